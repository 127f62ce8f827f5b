/**
 * `thirdloop setup claude --shell bash,zsh,fish` killed with SIGKILL at a
 * random moment, 50 times, on copies of real profiles from the corpus: every
 * file it touches is afterwards byte for byte either what was there before
 * or what a complete run writes, never truncated or mixed; the only
 * leftovers allowed are hidden `.<name>.<random>.tmp` files beside them.
 */
import { watch, chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCliBuilt } from '../helpers/cli.js';
import { corpusDir } from '../helpers/corpus.js';
import { makeCredential } from '../helpers/setup-env.js';
import { writeSignedInHome } from '../helpers/signed-in-home.js';
import { spawn } from 'node:child_process';
import { CLI_BIN, cliEnv } from '../helpers/cli.js';
import { SHELL_CACHES } from '../helpers/homes.js';
import { pool, runCliSafe } from './tree.js';

const corpus = corpusDir();
const RUNS = 50;

/** Where each corpus profile goes in the HOME. */
const PROFILES: Array<[string, string]> = [
  ['shells/bash/01-Mai0313-dot_bashrc', '.bashrc'],
  ['shells/zsh/02-0xGurg-.zshrc', '.zshrc'],
  ['shells/fish/01-22GNUs-config.fish', '.config/fish/config.fish'],
];
/** Every file a complete run may write, relative to HOME. */
const WATCHED = [
  '.bashrc',
  '.bashrc.thirdloop-backup',
  '.profile',
  '.zshenv',
  '.zshrc',
  '.zshrc.thirdloop-backup',
  '.config/fish/config.fish',
  '.config/fish/conf.d/thirdloop.fish',
  '.config/thirdloop/env.sh',
  '.config/thirdloop/env.fish',
  '.config/thirdloop/config.json',
];

const ARGS = ['setup', 'claude', '--shell', 'bash,zsh,fish', '--yes'];

function allFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = path.join(rel, entry.name);
    if (entry.isDirectory()) out.push(...allFiles(root, r));
    else out.push(r);
  }
  return out;
}

const read = (home: string, rel: string) => (existsSync(path.join(home, rel)) ? readFileSync(path.join(home, rel)) : undefined);

describe.skipIf(!corpus)('setup claude killed with SIGKILL at random points', () => {
  const roots: string[] = [];
  let base: string;
  const env = { SHELL: '/bin/bash' };
  const before = new Map<string, Buffer | undefined>();
  /** What the HOME holds before setup runs (the profiles, the signed-in config). */
  const baseFiles = new Set<string>();
  const after = new Map<string, Buffer | undefined>();
  let durationMs = 0;

  const freshHome = () => {
    const home = mkdtempSync(path.join(tmpdir(), 'thirdloop-kill-'));
    roots.push(home);
    cpSync(base, home, { recursive: true });
    return home;
  };

  beforeAll(async () => {
    ensureCliBuilt();
    base = mkdtempSync(path.join(tmpdir(), 'thirdloop-kill-base-'));
    roots.push(base);
    for (const [from, to] of PROFILES) {
      mkdirSync(path.dirname(path.join(base, to)), { recursive: true });
      cpSync(path.join(corpus!, from), path.join(base, to));
      chmodSync(path.join(base, to), 0o644); // the corpus is kept read-only
    }
    // Signed in as `thirdloop auth` leaves a HOME (setup writes files only, it asks the instance nothing).
    writeSignedInHome(base, { apiUrl: 'https://thirdloop.example.com', credential: makeCredential('sigkill'), env: { XDG_CONFIG_HOME: path.join(base, '.config') } });
    for (const rel of allFiles(base)) baseFiles.add(rel);
    for (const rel of WATCHED) before.set(rel, read(base, rel));

    // The reference: what a complete run leaves, and how long it takes (median of 3).
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const home = freshHome();
      const run = await runCliSafe(ARGS, { home, env, timeoutMs: 90_000 });
      if (run.exitCode !== 0) throw new Error(`reference run failed: ${run.stderr}`);
      times.push(run.ms);
      if (i === 0) for (const rel of WATCHED) after.set(rel, read(home, rel));
    }
    durationMs = times.sort((a, b) => a - b)[1]!;
  }, 240_000); // three complete runs, each starting bash, zsh and fish three ways to check its work

  afterAll(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));

  it('the reference run changes every profile, writes both env files, and keeps config.fish', () => {
    expect(after.get('.bashrc')!.equals(before.get('.bashrc')!)).toBe(false);
    expect(after.get('.zshrc')!.equals(before.get('.zshrc')!)).toBe(false);
    expect(after.get('.profile')).toBeDefined(); // bash login shells
    expect(after.get('.zshenv')).toBeDefined(); // every zsh
    expect(after.get('.config/fish/conf.d/thirdloop.fish')).toBeDefined();
    expect(after.get('.config/thirdloop/env.sh')).toBeDefined();
    expect(after.get('.config/thirdloop/env.fish')).toBeDefined();
    expect(after.get('.config/fish/config.fish')!.equals(before.get('.config/fish/config.fish')!)).toBe(true);
    expect(after.get('.bashrc.thirdloop-backup')!.equals(before.get('.bashrc')!)).toBe(true);
  });

  it(`${RUNS} kills: each file is exactly the old or the new bytes; no visible leftovers`, async () => {
    /**
     * One run, killed `delay` ms after its start or, with `afterFirstWrite`, `delay` ms after
     * the first entry appears in the config dir (the env files are written first): node's
     * start-up and the plan take most of a run and write nothing, so timed kills alone
     * rarely land among the writes.
     */
    const killRun = async (delay: number, afterFirstWrite: boolean) => {
      const home = freshHome();
      const configDir = path.join(home, '.config', 'thirdloop');
      mkdirSync(configDir, { recursive: true, mode: 0o700 });
      let timer: NodeJS.Timeout | undefined;
      const watcher = afterFirstWrite
        ? watch(configDir, () => {
            watcher?.close();
            timer = setTimeout(() => child.kill('SIGKILL'), delay);
          })
        : undefined;
      const child = spawn(process.execPath, [CLI_BIN, ...ARGS], { cwd: home, env: cliEnv(home, env), stdio: 'ignore' });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      if (!afterFirstWrite) timer = setTimeout(() => child.kill('SIGKILL'), delay);
      const result = await exited;
      watcher?.close();
      clearTimeout(timer);

      const states: Record<string, 'old' | 'new' | 'BAD'> = {};
      for (const rel of WATCHED) {
        const now = read(home, rel);
        const same = (a: Buffer | undefined, b: Buffer | undefined) => (a === undefined ? b === undefined : b !== undefined && a.equals(b));
        if (rel.endsWith('config.json')) {
          // The non-secret record: absent, or whole JSON (conf writes it atomically).
          let ok = now === undefined;
          try {
            if (now) ok = typeof JSON.parse(now.toString()) === 'object';
          } catch {
            ok = false;
          }
          states[rel] = ok ? (now === undefined ? 'old' : 'new') : 'BAD';
          continue;
        }
        states[rel] = same(now, before.get(rel)) ? 'old' : same(now, after.get(rel)) ? 'new' : 'BAD';
      }
      const extra = allFiles(home).filter((rel) => !WATCHED.includes(rel) && !baseFiles.has(rel));
      // A temp file left beside an env file may hold the key: it must be owner-only like the file.
      const openTemps = extra.filter((rel) => rel.startsWith('.config/thirdloop/') && (statSync(path.join(home, rel)).mode & 0o077) !== 0);
      const modeOk = ['.config/thirdloop/env.sh', '.config/thirdloop/env.fish'].every((rel) => {
        const file = path.join(home, rel);
        return !existsSync(file) || (statSync(file).mode & 0o777) === 0o600;
      });
      return { delay, killed: result.signal === 'SIGKILL', states, extra, modeOk, openTemps };
    };
    // 20 kills spread over the whole run (start-up, plan, writes), 30 spread over the writes.
    const outcomes = await pool(2, Array.from({ length: RUNS }, (_, i) => () => {
      const timed = i % 5 < 2;
      const share = Math.random();
      return timed ? killRun(Math.round(share * durationMs * 1.2), false) : killRun(Math.round(share * 40), true);
    }));

    const bad = outcomes.filter((o) => Object.values(o.states).includes('BAD'));
    expect(bad, JSON.stringify(bad, null, 1)).toEqual([]);
    // Our atomic writer's temp files are hidden (.<name>.<hex>.tmp); conf, which writes config.json
    // (no secret in it), names its own config.json.tmp-<hex> inside the config dir: no profile looks like either.
    const confTemp = /^\.config\/thirdloop\/config\.json\.tmp-[0-9a-f]+$/;
    // The shells setup starts to check its work make their own caches (zsh's completion dump, fish's state), as any new terminal does.
    const visible = outcomes
      .flatMap((o) => o.extra)
      .filter((rel) => !/(^|\/)\.[^/]+\.[0-9a-f]+\.tmp$/.test(rel) && !confTemp.test(rel) && !SHELL_CACHES.test(rel));
    expect(visible, 'files other than the watched ones and hidden .tmp files').toEqual([]);
    expect(outcomes.every((o) => o.modeOk), 'env files are 0600 whenever they exist').toBe(true);
    expect(outcomes.flatMap((o) => o.openTemps), 'temp files beside the env files readable by others').toEqual([]);

    // The kills really landed during the run, and at different stages of it.
    const killed = outcomes.filter((o) => o.killed);
    expect(killed.length).toBeGreaterThanOrEqual(RUNS / 4);
    const stages = new Set(killed.map((o) => WATCHED.map((rel) => o.states[rel]).join(',')));
    const leftovers = outcomes.flatMap((o) => o.extra);
    const tmpLeft = `${leftovers.length} (${[...new Set(leftovers.map((rel) => rel.replace(/\.[0-9a-f]+\.tmp$/, '.<random>.tmp').replace(/tmp-[0-9a-f]+$/, 'tmp-<random>')))].join(', ')})`;
    console.log(
      `sigkill: ${killed.length}/${RUNS} killed mid-run (command ~${durationMs} ms); ${stages.size} distinct on-disk states; ${tmpLeft} hidden .tmp file(s) left`,
    );
    expect(stages.size).toBeGreaterThanOrEqual(2);
  }, 600_000);
});

/**
 * The --via-run judge for every wrapped command: the probe runs each one (`claude`, `opencode`) as
 * typed, and each stand-in's output is judged apart. The shells' output is given here (the real
 * shells run it in test/e2e/setup-opencode-via-run.test.ts); the stand-in itself is the real script,
 * run by /bin/sh.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bash } from '../../src/shells/bash.js';
import { fish } from '../../src/shells/fish.js';
import { powershell } from '../../src/shells/powershell.js';
import { STAND_IN_SH, parseStandIn, standInMark } from '../../src/shells/probe-command.js';
import type { ShellProbe, WrappedCommand } from '../../src/shells/types.js';
import { checkShell, type ModeCheck } from '../../src/shells/verify.js';
import { needs } from '../helpers/components.js';
import { makeCredential } from '../helpers/setup-env.js';

const KEY = makeCredential('run-check');
const BROKER = 'http://127.0.0.1:45678';
const AT_BROKER = JSON.stringify({ provider: { thirdloop: { options: { baseURL: `${BROKER}/v1` } } } });

interface Seen {
  baseUrl?: string;
  apiKey?: string;
  config?: string;
  args?: string[];
}

/** What a stand-in prints, in its own format. */
const standIn = (m: string, s: Seen = {}) => {
  const args = s.args ?? ['a b'];
  return `${m}R${s.baseUrl ?? BROKER}${m}K${s.apiKey ?? 'tlr_run-token'}${m}T${m}C${s.config ?? ''}${m}A${args.length}:${args[0] ?? ''}${m}E`;
};

/** A shell that prints no key, then what each command's stand-in printed (undefined: it never ran). */
function shellPrinting(outputs: Partial<Record<WrappedCommand, Seen | undefined>>) {
  const commands: string[] = [];
  const probe: ShellProbe & { find(program: string): string } = {
    exists: async () => false,
    read: async () => undefined,
    list: async () => [],
    find: () => '/bin/bash',
    run: async (_program, args) => {
      const command = args.at(-1)!;
      commands.push(command);
      const mark = /TL[0-9a-f]{12}:/.exec(command)![0];
      let stdout = `${mark}B${mark}K${mark}T${mark}E`;
      for (const [name, seen] of Object.entries(outputs)) if (seen) stdout += standIn(standInMark(mark, name), seen);
      return { code: 0, stdout, stderr: '', timedOut: false, ms: 1 };
    },
  };
  return { probe, commands };
}

async function judge(commands: WrappedCommand[] | undefined, outputs: Partial<Record<WrappedCommand, Seen | undefined>>) {
  const { probe, commands: ran } = shellPrinting(outputs);
  const check = await checkShell({
    shell: bash,
    probe,
    expected: { baseUrl: 'https://tl.example.com', credential: KEY },
    findings: [],
    label: (f) => f,
    viaRun: { standInDir: '/tmp/stand-ins', commands },
  });
  return { check, first: check.modes[0]!, ran };
}

const failed = (mode: ModeCheck) => ({ status: mode.status, saw: mode.saw, reason: mode.reason });

describe('the --via-run check, per wrapped command', () => {
  it('claude alone: judged as before, and only `claude` is run', async () => {
    const { check, first, ran } = await judge(undefined, { claude: {} });
    expect(check.ok).toBe(true);
    expect(first.saw).toBe('`claude` through `thirdloop run`');
    expect(ran[0]).toMatch(/; claude TL[0-9a-f]{12}:claude: 'a b'$/);
    expect(ran[0]).not.toContain('opencode');
  });

  it('claude and opencode: both run as typed, both must come through run, opencode with its provider at the broker', async () => {
    const { check, first, ran } = await judge(['claude', 'opencode'], { claude: {}, opencode: { config: AT_BROKER } });
    expect(check.ok, first.reason).toBe(true);
    expect(first.saw).toBe('`claude` and `opencode` through `thirdloop run`');
    expect(ran[0]).toMatch(/; claude TL[0-9a-f]{12}:claude: 'a b'; opencode TL[0-9a-f]{12}:opencode: 'a b'$/);
  });

  it('`opencode` that never reached its stand-in fails, though `claude` did', async () => {
    const { check, first } = await judge(['claude', 'opencode'], { claude: {} });
    expect(check.ok).toBe(false);
    expect(failed(first)).toEqual({ status: 'failed', saw: '`opencode` not starting through `thirdloop run`', reason: '`opencode` exited with code 0 before reaching opencode' });
  });

  it('`opencode` started without run (the instance itself, or the key) fails', async () => {
    const direct = await judge(['claude', 'opencode'], { claude: {}, opencode: { baseUrl: 'https://tl.example.com', apiKey: KEY } });
    expect(failed(direct.first)).toMatchObject({ status: 'failed', saw: '`opencode` starting without `thirdloop run`' });
    expect(direct.first.reason).toContain('`opencode` there is not the thirdloop function');
  });

  it('`opencode` through run but with OPENCODE_CONFIG_CONTENT not pointing the provider at the broker fails, saying why', async () => {
    const absent = await judge(['claude', 'opencode'], { claude: {}, opencode: {} });
    expect(failed(absent.first)).toMatchObject({ status: 'failed', saw: '`opencode` through `thirdloop run`, but with the thirdloop provider not at the broker' });
    expect(absent.first.reason).toContain('did not point the provider at the broker');

    const elsewhere = JSON.stringify({ provider: { thirdloop: { options: { baseURL: 'https://tl.example.com/v1' } } } });
    expect((await judge(['claude', 'opencode'], { claude: {}, opencode: { config: elsewhere } })).first.status).toBe('failed');

    const notObject = await judge(['claude', 'opencode'], { claude: {}, opencode: { config: 'theme=dark' } });
    expect(notObject.first.reason).toContain('OPENCODE_CONFIG_CONTENT in this shell is not a JSON object');
  });

  it('arguments changed on the way to `opencode` fail', async () => {
    const { first } = await judge(['claude', 'opencode'], { claude: {}, opencode: { config: AT_BROKER, args: ['a', 'b'] } });
    expect(failed(first)).toEqual({ status: 'failed', saw: '`opencode` through `thirdloop run`, with its arguments changed', reason: 'it got 2 argument(s) for 1 ("a b")' });
  });

  it('every shell’s probe runs each wrapped command with its own mark', () => {
    for (const shell of [bash, fish, powershell]) {
      const command = shell.runProbeCommand('TLabc:', '/tmp/s', ['claude', 'opencode']);
      expect(command).toContain("claude TLabc:claude: 'a b'");
      expect(command).toContain("opencode TLabc:opencode: 'a b'");
    }
  });
});

describe.skipIf(needs('sh'))('the stand-in script', () => {
  it('shows the environment run gave it, OPENCODE_CONFIG_CONTENT included, under any wrapped command’s name', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'stand-in-'));
    try {
      const file = path.join(dir, 'opencode');
      writeFileSync(file, STAND_IN_SH, { mode: 0o755 });
      const mark = standInMark('TL0123456789ab:', 'opencode');
      const out = execFileSync(file, [mark, 'a b'], {
        env: { PATH: process.env.PATH, ANTHROPIC_BASE_URL: BROKER, ANTHROPIC_API_KEY: 'tlr_x', OPENCODE_CONFIG_CONTENT: AT_BROKER },
        encoding: 'utf8',
      });
      expect(parseStandIn(out, mark)).toEqual({ baseUrl: BROKER, apiKey: 'tlr_x', thirdloopKey: false, opencodeConfig: AT_BROKER, argc: 1, first: 'a b' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * `setup claude` on whole homes shaped like real people's, judged by the
 * real bash, zsh and fish (test/helpers/shell-reality, which shares no code
 * with the product's own check). Each home goes through
 *   setup → every kind of new terminal (interactive, login, both) →
 *   setup again → doctor → undo
 * with the real CLI, signed in to the real reference server, and:
 * - a shell setup calls configured sees exactly both variables in every
 *   kind of terminal; a shell it fails names itself and a reason, exits 1,
 *   and is left as it was;
 * - a home it refuses (FIFO, device, NUL bytes, read-only store) is not
 *   changed by a single byte, owner or mode, and the refusal is quick;
 * - running it again changes nothing;
 * - doctor's verdict per shell matches what the terminals saw;
 * - undo gives back every byte, owner and mode.
 * Homes owned by another uid are set up by root (sudo) and by the owner
 * (setpriv), and checked as the owner. The corpus profiles each get a home.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, lchownSync, lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, cliEnv, ensureCliBuilt, runCli } from '../helpers/cli.js';
import { needs } from '../helpers/components.js';
import { corpusDir } from '../helpers/corpus.js';
import { SHELL_CACHES, buildHome, diffHome, snapshotHome, type Entry, type HomeSpec } from '../helpers/homes.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';
import { everyTerminalSees, type RealShell } from '../helpers/shell-reality.js';
import { pool } from '../robustness/tree.js';

const missing = needs('bash', 'zsh', 'fish', 'setpriv', 'mkfifo');
const corpus = corpusDir();
const OTHER_UID = 4321;
const SHELLS3: RealShell[] = ['bash', 'zsh', 'fish'];

interface HomeCase extends HomeSpec {
  /** --shell (default bash,zsh,fish). */
  shells?: string;
  /** Who runs the CLI: root in someone else's home (sudo), or the home's owner (default). */
  runAs?: 'root' | 'owner';
  /** Environment of every run (e.g. ZDOTDIR), and of undo alone (another context). */
  env?: Record<string, string>;
  undoEnv?: Record<string, string>;
  /** The shells that must work, and those setup must refuse to call configured (with what it says). */
  expect: { ok: RealShell[]; failed?: Array<[RealShell, RegExp]>; warns?: RegExp[] } | { refused: RegExp } | 'consistent';
  /** Extra checks once set up. */
  check?: (home: string) => void | Promise<void>;
}

const corpusFile = (rel: string) => path.join(corpus ?? '/nonexistent', 'shells', rel);

const lf = (lines: string[]) => lines.join('\n') + '\n';
const crlf = (lines: string[]) => lines.join('\r\n') + '\r\n';
const debianSkel: Entry[] = ['.bashrc', '.profile', '.bash_logout'].map((name) => ({ copy: name, from: path.join('/etc/skel', name) }));
const ohMyZsh: Entry[] = [
  {
    file: '.oh-my-zsh/oh-my-zsh.sh',
    bytes: lf([
      '# a small stand-in for oh-my-zsh: libs, plugins, a theme, completion',
      'for lib in $ZSH/lib/*.zsh(N); do source $lib; done',
      'for plugin ($plugins); do',
      '  if [[ -f $ZSH/plugins/$plugin/$plugin.plugin.zsh ]]; then source $ZSH/plugins/$plugin/$plugin.plugin.zsh',
      '  else echo "[oh-my-zsh] plugin \'$plugin\' not found" >&2; fi',
      'done',
      'autoload -Uz compinit && compinit -u -d "$HOME/.zcompdump"',
    ]),
  },
  { file: '.oh-my-zsh/lib/history.zsh', bytes: lf(['HISTSIZE=50000', 'SAVEHIST=10000', 'setopt share_history']) },
  { file: '.oh-my-zsh/plugins/git/git.plugin.zsh', bytes: lf(["alias gst='git status'"]) },
];

function designedHomes(): HomeCase[] {
  return [
    { name: 'debian skel (bash reads .profile as a login shell)', entries: debianSkel, expect: { ok: SHELLS3 } },
    {
      name: 'debian skel owned by another user, set up by root (sudo)',
      entries: debianSkel,
      uid: OTHER_UID,
      gid: OTHER_UID,
      runAs: 'root',
      expect: { ok: SHELLS3 },
    },
    { name: 'debian skel owned by another user, set up by that user', entries: debianSkel, uid: OTHER_UID, gid: OTHER_UID, expect: { ok: SHELLS3 } },
    { name: 'macOS style: .bash_profile only', entries: [{ copy: '.bash_profile', from: corpusFile('bash/05-0x7FFFFFFFFFFFFFFF-.bash_profile') }], expect: { ok: SHELLS3 } },
    {
      name: 'macOS style: .profile only (no .bash_profile may appear)',
      entries: [{ file: '.profile', bytes: lf(['export PATH="$HOME/bin:$PATH"', 'export EDITOR=vim']) }, { dir: 'bin' }],
      expect: { ok: ['bash'] },
      shells: 'bash',
      check: (home) => expect(existsSync(path.join(home, '.bash_profile'))).toBe(false),
    },
    {
      name: 'macOS style: .bash_profile sourcing .profile and .bashrc',
      entries: [
        { file: '.bash_profile', bytes: lf(['[ -r ~/.profile ] && . ~/.profile', '[ -r ~/.bashrc ] && . ~/.bashrc']) },
        { file: '.profile', bytes: lf(['export PATH="/opt/homebrew/bin:$PATH"']) },
        { file: '.bashrc', bytes: lf(["alias ll='ls -l'"]) },
      ],
      expect: { ok: SHELLS3 },
    },
    {
      name: 'ZDOTDIR exported in ~/.zshenv, set up from bash',
      entries: [
        { file: '.zshenv', bytes: lf(['export ZDOTDIR="$HOME/.config/zsh"']) },
        { copy: '.config/zsh/.zshrc', from: corpusFile('zsh/04-ErebusBat-dot_zshrc') },
      ],
      expect: { ok: SHELLS3 },
      check: (home) => expect(existsSync(path.join(home, '.zshrc'))).toBe(false),
    },
    {
      name: 'ZDOTDIR set (not exported) in ~/.zshenv; undo run with another ZDOTDIR',
      entries: [
        { file: '.zshenv', bytes: lf(['ZDOTDIR=$HOME/.config/zsh', '[[ -f $ZDOTDIR/.zshenv ]] && . $ZDOTDIR/.zshenv']) },
        { copy: '.config/zsh/.zshenv', from: corpusFile('zsh/05-ErebusBat-dot_zshenv') },
        { copy: '.config/zsh/.zshrc', from: corpusFile('zsh/06-hbiboluo-.zshrc') },
        { dir: 'elsewhere' },
      ],
      undoEnv: { ZDOTDIR: '/nonexistent-zdotdir' },
      expect: { ok: SHELLS3 },
    },
    {
      name: 'dotfiles symlinked into a git repository',
      entries: [
        { file: 'dotfiles/.git/HEAD', bytes: 'ref: refs/heads/main\n' },
        { copy: 'dotfiles/bashrc', from: corpusFile('bash/09-812lcl-.bashrc') },
        { copy: 'dotfiles/zshrc', from: corpusFile('zsh/02-0xGurg-.zshrc') },
        { copy: 'dotfiles/config.fish', from: corpusFile('fish/03-Meisterlala-config.fish') },
        { link: '.bashrc', to: 'dotfiles/bashrc' },
        { link: '.zshrc', to: 'dotfiles/zshrc' },
        { link: '.config/fish/config.fish', to: '../../dotfiles/config.fish' },
      ],
      expect: { ok: SHELLS3 },
      check: (home) => expect(lstatSync(path.join(home, '.bashrc')).isSymbolicLink()).toBe(true),
    },
    {
      name: 'oh-my-zsh with powerlevel10k and missing plugins',
      entries: [...ohMyZsh, { copy: '.zshrc', from: corpusFile('zsh/01-Mai0313-dot_zshrc') }],
      expect: { ok: SHELLS3 },
    },
    {
      name: 'fish with conf.d snippets and a universal ANTHROPIC_API_KEY',
      entries: [
        { copy: '.config/fish/config.fish', from: corpusFile('fish/01-22GNUs-config.fish') },
        { copy: '.config/fish/conf.d/z.fish', from: corpusFile('fish/02-22GNUs-z.fish') },
        { copy: '.config/fish/conf.d/pure.fish', from: corpusFile('fish/07-AFRUITPIE-pure.fish') },
        {
          file: '.config/fish/fish_variables',
          bytes: lf(['# This file contains fish universal variable definitions.', '# VERSION: 3.0', 'SETUVAR --export ANTHROPIC_API_KEY:sk\\x2dant\\x2dpersonal', 'SETUVAR __fish_initialized:3400']),
        },
      ],
      expect: { ok: SHELLS3 },
    },
    {
      name: 'CRLF profiles (the block must still close its if)',
      entries: [
        { file: '.bashrc', bytes: crlf(['# synced from Windows', "alias ll='ls -l'", 'export EDITOR=vim']) },
        { file: '.profile', bytes: crlf(['export LANG=C.UTF-8']) },
        { file: '.zshrc', bytes: crlf(['setopt autocd', 'export EDITOR=vim']) },
        { file: '.zshenv', bytes: crlf(['export LESS=-R']) },
      ],
      expect: { ok: SHELLS3 },
    },
    {
      name: 'UTF-8 BOM profiles',
      entries: [
        { file: '.bashrc', bytes: '\ufeff# bashrc\nexport EDITOR=vim\n' },
        { file: '.zshrc', bytes: '\ufeff# zshrc\nsetopt autocd\n' },
        { file: '.config/fish/config.fish', bytes: '\ufeff# fish\nset -g fish_greeting\n' },
      ],
      expect: { ok: SHELLS3 },
    },
    {
      name: 'Latin-1 profiles',
      entries: [
        { file: '.bashrc', bytes: Buffer.from("# r\xe9glages de d\xe9part\nexport GREETING='d\xe9j\xe0 vu'\n", 'latin1') },
        { file: '.zshrc', bytes: Buffer.from('# \xe9t\xe9\nsetopt autocd\n', 'latin1') },
      ],
      expect: { ok: SHELLS3 },
    },
    {
      name: 'no final newline anywhere',
      entries: [
        { file: '.bashrc', bytes: 'alias k=kubectl' },
        { file: '.profile', bytes: 'export PATH="$HOME/.local/bin:$PATH"' },
        { copy: '.zshrc', from: corpusFile('zsh/07-rudyardrichter-zshrc') },
        { copy: '.config/fish/config.fish', from: corpusFile('fish/06-AFRUITPIE-config.fish') },
      ],
      expect: { ok: SHELLS3 },
    },
    {
      name: 'a 5 MB .bashrc',
      entries: [{ file: '.bashrc', bytes: `${'# '.padEnd(79, 'x')}\n`.repeat(65_000) + 'export HUGE=1\n' }],
      expect: { ok: SHELLS3 },
    },
    { name: 'a .bashrc with NUL bytes', entries: [{ file: '.bashrc', bytes: Buffer.from('export A=1\n\u0000\u0001binary\n') }], expect: { refused: /NUL bytes/ } },
    { name: 'a .bashrc that is a FIFO', entries: [{ fifo: '.bashrc' }, { file: '.zshrc', bytes: 'setopt autocd\n' }], expect: { refused: /~\/\.bashrc: it is a FIFO/ } },
    { name: 'a .bashrc linked to a character device', entries: [{ link: '.bashrc', to: '/dev/null' }], expect: { refused: /~\/\.bashrc: it is a character device/ } },
    {
      name: 'a .bashrc linked into a read-only store (home-manager), as root',
      entries: [
        { file: '{OUTSIDE}/nix/store/abc-home-manager-files/.bashrc', bytes: lf(['# generated by home-manager', 'export EDITOR=vim']), mode: 0o444 },
        { dir: '{OUTSIDE}/nix/store/abc-home-manager-files', mode: 0o555 },
        { link: '.bashrc', to: '{OUTSIDE}/nix/store/abc-home-manager-files/.bashrc' },
      ],
      runAs: 'root',
      expect: { refused: /~\/\.bashrc: it links to .*read-only/ },
    },
    {
      name: 'a .bashrc linked into a read-only store (home-manager), as its user',
      entries: [
        { file: '{OUTSIDE}/nix/store/abc-home-manager-files/.bashrc', bytes: lf(['# generated by home-manager']), mode: 0o444 },
        { dir: '{OUTSIDE}/nix/store/abc-home-manager-files', mode: 0o555 },
        { link: '.bashrc', to: '{OUTSIDE}/nix/store/abc-home-manager-files/.bashrc' },
      ],
      uid: OTHER_UID,
      gid: OTHER_UID,
      expect: { refused: /read-only/ },
    },
    {
      name: 'a writable .zshrc in a read-only dotfiles folder, as root (mode bits, not access())',
      entries: [{ file: 'dots/zshrc', bytes: 'setopt autocd\n' }, { dir: 'dots', mode: 0o555 }, { link: '.zshrc', to: 'dots/zshrc' }],
      runAs: 'root',
      shells: 'zsh',
      expect: { refused: /dots is not writable/ },
    },
    {
      name: 'config.fish sets its own ANTHROPIC_API_KEY after conf.d',
      entries: [{ file: '.config/fish/config.fish', bytes: lf(['set -gx EDITOR vim', 'set -gx ANTHROPIC_API_KEY sk-ant-personal-0000']) }],
      expect: { ok: ['bash', 'zsh'], failed: [['fish', /✗ fish .*~\/\.config\/fish\/config\.fish line 2 sets ANTHROPIC_API_KEY after the thirdloop block/]] },
    },
    {
      name: '~/.zlogin exports a personal key for login shells',
      entries: [{ file: '.zshrc', bytes: 'setopt autocd\n' }, { file: '.zlogin', bytes: lf(['export ANTHROPIC_API_KEY=sk-ant-personal-0000']) }],
      expect: { ok: ['bash', 'fish'], failed: [['zsh', /✗ zsh .*zsh -l sees an ANTHROPIC_API_KEY that is not the Third Loop key: ~\/\.zlogin line 1 sets ANTHROPIC_API_KEY/]] },
    },
    {
      name: '~/.bash_profile sources .bashrc, then exports a personal key',
      entries: [
        { file: '.bash_profile', bytes: lf(['[ -f ~/.bashrc ] && . ~/.bashrc', 'export ANTHROPIC_API_KEY=sk-ant-personal-0000']) },
        { file: '.bashrc', bytes: lf(["alias ll='ls -l'"]) },
      ],
      expect: { ok: SHELLS3, warns: [/~\/\.bash_profile line 2 also sets ANTHROPIC_API_KEY; the thirdloop block further down wins/] },
    },
    {
      name: 'an early return that this machine does not take',
      entries: [{ file: '.bashrc', bytes: lf(['[ -f ~/.in-container ] && return', "alias ll='ls -l'"]) }],
      expect: { ok: SHELLS3, warns: [/~\/\.bashrc line 1 \(`\[ -f ~\/\.in-container \] && return`\) stops bash \(interactive\) before the thirdloop block/] },
    },
    {
      name: 'an early return that this machine takes',
      entries: [{ file: '.bashrc', bytes: lf(['[ -f ~/.in-container ] && return', "alias ll='ls -l'"]) }, { file: '.in-container', bytes: '' }],
      expect: { ok: ['zsh', 'fish'], failed: [['bash', /✗ bash .*bash -i sees no ANTHROPIC_BASE_URL and no ANTHROPIC_API_KEY: ~\/\.bashrc line 1 \(`\[ -f ~\/\.in-container \] && return`\) stops the reading/]] },
    },
    {
      name: 'a .bashrc that ends with exec zsh -i',
      entries: [{ file: '.bashrc', bytes: lf(['export EDITOR=vim', 'exec zsh -i']) }],
      expect: { ok: ['zsh', 'fish'], failed: [['bash', /✗ bash .*bash -i sees nothing: the check never ran: ~\/\.bashrc line 2 runs `exec zsh -i`/]] },
    },
  ];
}

/** Where a corpus profile lives in a home, by its name. */
function corpusPlace(kind: string, name: string): string | undefined {
  if (kind === 'bash') return name.endsWith('bash_profile') ? '.bash_profile' : name.endsWith('bashrc') ? '.bashrc' : name.endsWith('profile') ? '.profile' : undefined;
  if (kind === 'zsh') return name.endsWith('zshenv') ? '.zshenv' : name.endsWith('zprofile') ? '.zprofile' : '.zshrc';
  if (kind === 'fish') return name.endsWith('config.fish') ? '.config/fish/config.fish' : `.config/fish/conf.d/${name.replace(/^\d+-[^-]+-/, '')}`;
  return undefined;
}

/**
 * The corpus as homes: home i holds the i-th bash, zsh and fish profile of the corpus, each where
 * its name says it lives (real homes hold all three kinds at once).
 */
function corpusHomes(): HomeCase[] {
  if (!corpus) return [];
  const byKind = Object.fromEntries(['bash', 'zsh', 'fish'].map((kind) => [kind, readdirSync(path.join(corpus, 'shells', kind)).sort()]));
  const count = Math.max(...Object.values(byKind).map((names) => names.length));
  const out: HomeCase[] = [];
  for (let i = 0; i < count; i++) {
    const entries: Entry[] = [];
    const names: string[] = [];
    for (const kind of ['bash', 'zsh', 'fish']) {
      const name = byKind[kind]![i];
      const place = name && corpusPlace(kind, name);
      if (!name || !place) continue;
      entries.push({ copy: place, from: corpusFile(`${kind}/${name}`) });
      names.push(`${kind}/${name}`);
    }
    out.push({ name: `corpus home ${i + 1}: ${names.join(', ')}`, entries, expect: 'consistent' });
  }
  return out;
}

interface Run {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The real CLI as `uid` (root acting for someone else when uid is 0 in their home). */
function cli(args: string[], home: string, options: { uid: number; gid: number; env?: Record<string, string> }): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const asOther = options.uid !== process.getuid!();
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: home,
      env: cliEnv(home, { NO_COLOR: '1', SHELL: '/bin/bash', ...options.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(asOther ? { uid: options.uid, gid: options.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      resolve({ exitCode, stdout, stderr, ms: Math.round(performance.now() - started) });
    });
  });
}

interface Outcome {
  log: string[];
  problems: string[];
  setupMs?: number;
}

let server: ReferenceServer;
let signedIn: string;
let credential: string;
const roots: string[] = [];
const homes = [...designedHomes(), ...corpusHomes()];
const outcomes = new Map<string, Outcome>();
/** config.json holds setup's record of what it edited: it changes by design. */
const IGNORE = new RegExp(`${SHELL_CACHES.source}|^\\.config/thirdloop/config\\.json$`);

async function cycle(spec: HomeCase): Promise<Outcome> {
  const outcome: Outcome = { log: [], problems: [] };
  const fail = (what: string) => outcome.problems.push(what);
  const home = buildHome(spec);
  roots.push(path.dirname(home.dir));
  // Signed in already (the secret in the 0600 credentials file), as this user.
  cpSync(path.join(signedIn, '.config', 'thirdloop'), path.join(home.dir, '.config', 'thirdloop'), { recursive: true });
  for (const rel of ['.config', '.config/thirdloop', '.config/thirdloop/config.json', '.config/thirdloop/credentials.json']) {
    if (lstatSync(path.join(home.dir, rel)).uid === 0) lchownSync(path.join(home.dir, rel), home.uid, home.gid);
  }
  const runner = spec.runAs === 'root' ? { uid: 0, gid: 0 } : { uid: home.uid, gid: home.gid };
  const asOwner = { uid: home.uid, gid: home.gid };
  const expected = { baseUrl: server.url, apiKey: credential };
  const shells = spec.shells ?? 'bash,zsh,fish';
  const selected = shells.split(',') as RealShell[];
  const before = snapshotHome(home.dir);

  const setup = await cli(['setup', 'claude', '--shell', shells, '--yes'], home.dir, { ...runner, env: spec.env });
  outcome.setupMs = setup.ms;
  outcome.log.push(`setup: exit ${setup.exitCode} in ${setup.ms} ms\n${setup.stderr}`);
  if (setup.stderr.includes(credential.split(';')[1]!) || setup.stdout.includes(credential.split(';')[1]!)) fail('setup printed the secret');

  if (typeof spec.expect === 'object' && 'refused' in spec.expect) {
    if (setup.exitCode !== 1) fail(`setup should refuse with exit 1, got ${setup.exitCode}`);
    if (!spec.expect.refused.test(setup.stderr)) fail(`setup should say ${spec.expect.refused}`);
    if (setup.ms > 15_000) fail(`the refusal took ${setup.ms} ms`);
    const changes = diffHome(before, snapshotHome(home.dir));
    if (changes.length) fail(`a refused setup changed the home:\n${changes.join('\n')}`);
    // --dry-run still shows the lines where the file cannot be written (but not for a file it cannot read).
    const dry = await cli(['setup', 'claude', '--shell', shells, '--dry-run'], home.dir, { ...runner, env: spec.env });
    if (/read-only/.test(setup.stderr) && (dry.exitCode !== 0 || !dry.stdout.includes('+# >>> thirdloop >>>'))) fail(`--dry-run did not show the lines:\n${dry.stderr}`);
    if (diffHome(before, snapshotHome(home.dir)).length) fail('--dry-run changed the home');
    // Nothing was set up, so no new terminal has the variables: doctor must not say ✓ for any shell, and answers quickly.
    const doctor = await cli(['doctor', '--json'], home.dir, { ...runner, env: spec.env });
    if (doctor.ms > 30_000) fail(`doctor on a refused home took ${doctor.ms} ms`);
    try {
      const verdicts = JSON.parse(doctor.stdout) as Array<{ check: string; status: string }>;
      for (const v of verdicts) if (/^shell:[a-z]+$/.test(v.check) && v.status === 'ok') fail(`doctor says ✓ ${v.check} on a home setup refused`);
    } catch {
      fail(`doctor printed no JSON on a refused home: ${doctor.stderr}`);
    }
    // undo and doctor skip what they cannot read, quickly.
    const undo = await cli(['setup', 'claude', '--undo', '--yes'], home.dir, { ...runner, env: spec.env });
    if (undo.exitCode !== 0 || undo.ms > 15_000) fail(`undo on a refused home: exit ${undo.exitCode} in ${undo.ms} ms\n${undo.stderr}`);
    if (diffHome(before, snapshotHome(home.dir), IGNORE).length) fail('undo on a refused home changed it');
    return outcome;
  }

  // Reality, as the home's owner, for every selected shell.
  const reality = new Map<RealShell, boolean>();
  const seen = await Promise.all(selected.map((shell) => everyTerminalSees(shell, home.dir, expected, asOwner)));
  selected.forEach((shell, i) => {
    reality.set(shell, Object.values(seen[i]!).every(Boolean));
    outcome.log.push(`${shell}: ${JSON.stringify(seen[i])}`);
  });
  const claimsOk = (shell: RealShell) => new RegExp(`✓ ${shell}\\b`).test(setup.stderr);
  const claimsFailed = (shell: RealShell) => new RegExp(`✗ ${shell}\\b`).test(setup.stderr);
  for (const shell of selected) {
    if (claimsOk(shell) && !reality.get(shell)) fail(`setup says ✓ ${shell} but its terminals do not all see both values`);
    if (!claimsOk(shell) && !claimsFailed(shell)) fail(`setup says neither ✓ nor ✗ for ${shell}`);
    if (claimsFailed(shell) && reality.get(shell)) fail(`setup says ✗ ${shell} but its terminals see both values`);
  }
  const failedShells = selected.filter(claimsFailed);
  if (setup.exitCode !== (failedShells.length ? 1 : 0)) fail(`setup exited ${setup.exitCode} with ${failedShells.length} failed shell(s)`);
  if (typeof spec.expect === 'object' && 'ok' in spec.expect) {
    for (const shell of spec.expect.ok) if (!reality.get(shell) || !claimsOk(shell)) fail(`${shell} should work after setup`);
    for (const [shell, says] of spec.expect.failed ?? []) {
      if (!claimsFailed(shell)) fail(`setup should fail ${shell}`);
      if (!says.test(setup.stderr)) fail(`setup should say ${says}`);
    }
    for (const warn of spec.expect.warns ?? []) if (!warn.test(setup.stderr)) fail(`setup should warn ${warn}`);
  }
  // Every entry still belongs to the home's owner (root acting for them included).
  for (const [rel, entry] of snapshotHome(home.dir)) {
    if (!entry.includes(` ${home.uid}:${home.gid}`) && !before.get(rel)?.includes(' 0:0')) fail(`${rel} is not owned by the home's owner: ${entry}`);
  }
  // A failed shell's files are as they were.
  const afterSetup = snapshotHome(home.dir);
  for (const line of diffHome(before, afterSetup, IGNORE)) {
    if (failedShells.includes('fish') && /fish/.test(line) && !/env\.fish/.test(line)) fail(`fish failed but: ${line}`);
    if (failedShells.includes('zsh') && /\.z(shenv|shrc|login|profile)/.test(line)) fail(`zsh failed but: ${line}`);
    if (failedShells.includes('bash') && /\.(bashrc|profile|bash_profile|bash_login)\b/.test(line)) fail(`bash failed but: ${line}`);
  }
  await spec.check?.(home.dir);

  const again = await cli(['setup', 'claude', '--shell', shells, '--yes'], home.dir, { ...runner, env: spec.env });
  if (again.exitCode !== setup.exitCode) fail(`setup again exited ${again.exitCode}, the first time ${setup.exitCode}:\n${again.stderr}`);
  const changedAgain = diffHome(afterSetup, snapshotHome(home.dir), IGNORE);
  if (changedAgain.length) fail(`setup again changed:\n${changedAgain.join('\n')}`);

  // doctor (as the owner) agrees with the terminals on every shell it reports.
  const doctor = await cli(['doctor', '--json'], home.dir, { ...asOwner, env: spec.env });
  let checks: Array<{ check: string; status: string; message: string }> = [];
  try {
    checks = JSON.parse(doctor.stdout);
  } catch {
    fail(`doctor printed no JSON: ${doctor.stderr}`);
  }
  for (const shell of selected) {
    const verdict = checks.find((c) => c.check === `shell:${shell}`);
    outcome.log.push(`doctor ${shell}: ${verdict?.status} ${verdict?.message ?? ''}`);
    if (verdict?.status === 'ok' && !reality.get(shell)) fail(`doctor says ✓ ${shell} but its terminals do not see both values`);
    if (reality.get(shell) && verdict?.status !== 'ok') fail(`doctor says ${verdict?.status} for ${shell}, whose terminals see both values`);
  }

  const undo = await cli(['setup', 'claude', '--undo', '--yes'], home.dir, { ...runner, env: { ...spec.env, ...spec.undoEnv } });
  outcome.log.push(`undo: exit ${undo.exitCode}\n${undo.stderr}`);
  if (undo.exitCode !== 0) fail(`undo exited ${undo.exitCode}`);
  const left = diffHome(before, snapshotHome(home.dir), IGNORE);
  if (left.length) fail(`undo did not give the home back:\n${left.join('\n')}`);
  return outcome;
}

describe.skipIf(missing)('setup claude on whole homes: the real shells are the judge', () => {
  beforeAll(async () => {
    ensureCliBuilt();
    server = await startReferenceServer();
    await server.addUser('homes@example.com');
    credential = (await server.createKey('homes@example.com', { name: 'homes' })).credential;
    signedIn = mkdtempSync(path.join(tmpdir(), 'thirdloop-homes-signed-in-'));
    roots.push(signedIn);
    const auth = await runCli(['auth', '--with-key', '--insecure-storage', '--api-url', server.url], { home: signedIn, input: credential });
    if (auth.exitCode !== 0) throw new Error(`sign-in failed: ${auth.stderr}`);
    const results = await pool(2, homes.map((spec) => async () => [spec.name, await cycle(spec).catch((e: Error): Outcome => ({ log: [], problems: [e.stack ?? String(e)] }))] as const));
    for (const [name, outcome] of results) outcomes.set(name, outcome);
    const times = results.map(([, o]) => o.setupMs ?? 0).filter(Boolean).sort((a, b) => a - b);
    console.log(`setup claude on ${times.length} homes: median ${times[Math.floor(times.length / 2)]} ms, slowest ${times.at(-1)} ms (2 homes at a time)`);
  }, 1_800_000); // ~40 homes, each set up, checked by 9 terminals, set up again, doctored and undone

  afterAll(async () => {
    for (const root of roots) {
      // A read-only store folder must be writable again to be removed.
      const walk = (dir: string) => {
        for (const name of readdirSync(dir)) {
          const p = path.join(dir, name);
          const st = lstatSync(p);
          if (st.isDirectory()) {
            if ((st.mode & 0o200) === 0) rmSync(p, { recursive: true, force: true, maxRetries: 0 }) ;
            else walk(p);
          }
        }
      };
      try {
        walk(root);
      } catch {
        /* best effort */
      }
      rmSync(root, { recursive: true, force: true });
    }
    await server?.stop();
  });

  it('has the homes the issue names, and the corpus', () => {
    expect(homes.length).toBeGreaterThanOrEqual(35);
  });

  for (const spec of homes) {
    it(spec.name, () => {
      const outcome = outcomes.get(spec.name);
      expect(outcome, 'the home did not run').toBeDefined();
      expect(outcome!.problems, outcome!.log.join('\n')).toEqual([]);
    });
  }

  it('the secret is only in the 0600 env and credentials files', () => {
    const secret = credential.split(';')[1]!;
    for (const root of roots) {
      const walk = (dir: string): string[] =>
        existsSync(dir)
          ? readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
              const p = path.join(dir, e.name);
              return e.isDirectory() ? walk(p) : e.isFile() ? [p] : [];
            })
          : [];
      for (const file of walk(root)) {
        if (!readFileSync(file).includes(secret)) continue;
        expect(path.basename(file)).toMatch(/^(env\.(sh|fish)|credentials\.json)$/);
        expect(statSync(file).mode & 0o777).toBe(0o600);
      }
    }
  });
});

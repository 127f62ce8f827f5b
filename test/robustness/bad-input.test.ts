/**
 * The bad-input matrix: every command and every file the CLI reads, given
 * what users (and their networks) really produce. Each case runs the real
 * CLI with a temp HOME and checks the exit code (2 usage, 1 failure, 4 not
 * signed in), one clear sentence on stderr (no stack trace), and that not a
 * byte of any file under the HOME (the project dir is the HOME, the CLI's cwd)
 * changed.
 *
 * The cases run in a pool of 4 in beforeAll (one reference server and one
 * misbehaving server for all); each `it` then checks one case's result.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureCliBuilt, runCli } from '../helpers/cli.js';
import { needs, needsThat } from '../helpers/components.js';
import { startReferenceServer, type ReferenceServer } from '../helpers/reference-server.js';
import { startMisbehavingServer, type MisbehavingServer, type Misbehaviour } from '../helpers/misbehaving-server.js';
import { canChattr, clearImmutable, diffSnapshots, makeImmutable, pool, runCliSafe, snapshot, stderrProblems, type Run } from './tree.js';

interface Env {
  /** The reference server's URL. */
  url: string;
  /** A valid credential for a key on it (`<id>;<secret>`). */
  credential: string;
  keyId: string;
  bad: MisbehavingServer;
}

interface Case {
  name: string;
  args: string[] | ((e: Env) => string[]);
  /** Start from a HOME signed in to the reference server (secret in the 0600 file). */
  signedIn?: boolean;
  /** Start from that signed-in HOME, with its profile's instance at this URL instead (a misbehaving one). */
  at?: (e: Env) => string | undefined;
  env?: (e: Env, home: string) => Record<string, string | undefined>;
  input?: string | ((e: Env) => string);
  /** Shapes the HOME before the run (corrupt files, loops, read-only paths). */
  prepare?: (home: string, e: Env) => void;
  exit: 0 | 1 | 2 | 4;
  /** The sentence we expect (besides the generic checks). */
  says?: RegExp;
  /** A report (doctor) rather than one sentence: every line is checked for internals, not for "Error:". */
  report?: boolean;
  /** Skip reason, decided when the case list is built. */
  skip?: string;
  timeoutMs?: number;
}

const CONFIG = '.config/thirdloop';
const cfg = (home: string, file = '') => path.join(home, CONFIG, file);
const write = (file: string, data: string | Buffer, mode?: number) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
  if (mode !== undefined) chmodSync(file, mode);
};
const fifo = (file: string) => {
  mkdirSync(path.dirname(file), { recursive: true });
  execFileSync('mkfifo', [file]);
};
const NUL_BYTES = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x0a, 0x00, 0x00, 0x41, 0x00]);
const HUGE_ARG = 'x'.repeat(100_000); // argv strings stop at 128 KiB on Linux
const ONE_MB = 'A'.repeat(1024 * 1024);
const needsChattr = needsThat(canChattr(), 'chattr +i (root, e2fsprogs, and a file system that keeps immutable files)');

/** A HOME signed in to a given (misbehaving) instance, as `thirdloop auth` leaves it. */
const atBad = (mode: Misbehaviour) => (e: Env) => e.bad.url(mode);

function usageCases(): Case[] {
  const unknownFlag = (args: string[]): Case => ({ name: `unknown flag: ${args.join(' ')}`, args, exit: 2, says: /^Error: Unknown option/m });
  return [
    unknownFlag(['--bogus']),
    unknownFlag(['auth', '--bogus']),
    unknownFlag(['status', '--bogus']),
    unknownFlag(['logout', '--bogus']),
    unknownFlag(['token', '--bogus']),
    unknownFlag(['keys', 'list', '--bogus']),
    unknownFlag(['keys', 'create', '--bogus']),
    unknownFlag(['keys', 'rotate', 'x', '--bogus']),
    unknownFlag(['setup', 'claude', '--bogus']),
    unknownFlag(['setup', 'opencode', '--bogus']),
    unknownFlag(['doctor', '--bogus']),
    { name: 'unknown command', args: ['frobnicate'], exit: 2, says: /^Error: Unknown command/m },
    { name: 'unknown keys subcommand', args: ['keys', 'frobnicate'], exit: 2, says: /^Error: Unknown command/m },
    { name: 'unknown setup target', args: ['setup', 'vim'], exit: 2, says: /^Error: Unknown command/m },
    { name: 'missing value: --api-url', args: ['auth', '--api-url'], exit: 2, says: /^Error: Option .* argument missing/m },
    { name: 'missing value: --profile', args: ['status', '--profile'], exit: 2, says: /^Error: Option .* argument missing/m },
    { name: 'missing value: auth --name', args: ['auth', '--name'], exit: 2, says: /^Error: Option .* argument missing/m },
    { name: 'missing value: keys create --expires', args: ['keys', 'create', '--expires'], exit: 2, says: /^Error: Option .* argument missing/m },
    { name: 'missing value: setup claude --shell', args: ['setup', 'claude', '--shell'], exit: 2, says: /^Error: Option .* argument missing/m },
    { name: 'missing argument: keys disable', args: ['keys', 'disable'], exit: 2, says: /^Error: Missing required argument/m },
    { name: 'missing argument: keys rename <id> only', args: ['keys', 'rename', 'laptop'], exit: 2, says: /^Error: Missing required argument/m },
    { name: 'too many arguments: keys rename', args: ['keys', 'rename', 'a', 'b', 'c'], exit: 2, says: /^Error: Too many arguments/m },
    { name: 'invalid expiry: 45', args: ['keys', 'create', '--expires', '45'], exit: 2, says: /Expiry must be one of/ },
    { name: 'invalid expiry: abc', args: ['keys', 'create', '--expires', 'abc'], exit: 2, says: /Expiry must be one of/ },
    { name: 'invalid expiry: -30', args: ['keys', 'create', '--expires=-30'], exit: 2, says: /Expiry must be one of/ },
    { name: 'invalid expiry: 90.5', args: ['auth', '--expires', '90.5'], exit: 2, says: /Expiry must be one of/ },
    { name: 'invalid expiry: empty', args: ['auth', '--expires', ''], exit: 2, says: /Expiry must be one of/ },
    { name: 'invalid --timeout: 0', args: ['auth', '--timeout', '0'], exit: 2, says: /whole number of seconds/ },
    { name: 'invalid --timeout: 1e9', args: ['auth', '--timeout', '1000000000'], exit: 2, says: /whole number of seconds/ },
    { name: 'invalid --shell: tcsh', args: ['setup', 'claude', '--shell', 'tcsh'], exit: 2, says: /Unknown shell "tcsh"/ },
    { name: 'invalid --shell: only commas', args: ['setup', 'claude', '--shell', ',,,'], exit: 2, says: /at least one shell/ },
    { name: 'invalid --shell: cmd on Linux', args: ['setup', 'claude', '--shell', 'bash,cmd'], exit: 2, says: /not supported/ },
    { name: 'invalid --shell: 100 KB', args: ['setup', 'claude', '--shell', HUGE_ARG], exit: 2, says: /Unknown shell/ },
    { name: '--key-helper with --shell', args: ['setup', 'claude', '--key-helper', '--shell', 'bash'], exit: 2, says: /drop --shell/ },
    { name: 'profile name with spaces', args: ['--profile', 'my work', 'status'], exit: 2, says: /Invalid profile name/ },
    { name: 'profile name with control characters', args: ['--profile', 'a\u001b[2Jb', 'status'], exit: 2, says: /Invalid profile name/ },
    { name: 'profile name with a path', args: ['--profile', '../../etc', 'token'], exit: 2, says: /Invalid profile name/ },
    { name: 'profile name of 100 KB', args: ['--profile', HUGE_ARG, 'status'], exit: 2, says: /Invalid profile name/ },
    { name: 'auth --with-key --rotate', args: ['auth', '--with-key', '--rotate', '--api-url', 'http://127.0.0.1:9'], exit: 2, says: /cannot be used together/ },
    { name: 'auth --with-key --no-browser', args: ['auth', '--with-key', '--no-browser', '--api-url', 'http://127.0.0.1:9'], exit: 2, says: /cannot be used together/ },
    { name: 'auth without any instance URL', args: ['auth', '--with-key'], input: 'x', exit: 2, says: /Which Third Loop instance/ },
  ];
}

function urlCases(): Case[] {
  const bad = (label: string, url: string, says: RegExp): Case => ({
    name: `malformed --api-url: ${label}`,
    args: ['auth', '--with-key', '--api-url', url],
    input: (e) => e.credential,
    exit: 2,
    says,
  });
  return [
    bad('no scheme', 'thirdloop.example.com', /is not a URL/),
    bad('ftp://', 'ftp://thirdloop.example.com', /must start with https:\/\//),
    bad('file://', 'file:///etc/passwd', /must start with https:\/\//),
    bad('javascript:', 'javascript:alert(1)', /must start with https:\/\//),
    bad('a space in the host', 'https://third loop.example.com', /is not a URL/),
    bad('credentials in the URL', 'https://ada:hunter2@thirdloop.example.com', /must not contain a user name or password/),
    bad('only a scheme', 'https://', /is not a URL/),
    bad('unclosed IPv6 bracket', 'https://[::1', /is not a URL/),
    bad('100 KB', `https://${HUGE_ARG}`, /characters long/),
    {
      name: 'malformed THIRDLOOP_API_URL (ftp://) for status',
      args: ['status'],
      env: () => ({ THIRDLOOP_API_URL: 'ftp://example.com' }),
      exit: 2,
      says: /must start with https:\/\//,
    },
    {
      name: 'credentials in --api-url are not echoed',
      args: ['keys', 'list', '--api-url', 'https://ada:s3cr3t-pw@[bad'],
      signedIn: true,
      exit: 2,
      says: /--api-url/,
    },
  ];
}

function credentialInputCases(): Case[] {
  const withKey = (name: string, input: string | ((e: Env) => string), exit: 1 | 2 | 4, says: RegExp): Case => ({
    name: `auth --with-key: ${name}`,
    args: (e) => ['auth', '--with-key', '--api-url', e.url],
    input,
    exit,
    says,
  });
  return [
    withKey('empty stdin', '', 2, /read nothing from stdin/),
    withKey('garbage', 'hello world', 2, /not in the form/),
    withKey('no key ID', 'abc;tls_x', 2, /key ID/),
    withKey('secret cut short', (e) => e.credential.slice(0, -3), 2, /secret key|checksum/),
    withKey('checksum mismatch', (e) => e.credential.slice(0, -1) + (e.credential.endsWith('A') ? 'B' : 'A'), 2, /checksum/),
    withKey('control characters', (e) => `\u0007${e.credential.replace(';', ';\u0000')}`, 2, /credential/),
    withKey('1 MB on stdin', ONE_MB, 2, /too large/),
    withKey('NUL bytes', NUL_BYTES.toString('latin1'), 2, /credential/),
    withKey('a well-formed key the instance does not know', 'tlk_000000000000000000000000;tls_00000000000000000000000000000000000000', 2, /checksum|not accept/),
    {
      name: 'THIRDLOOP_API_KEY malformed',
      args: (e) => ['status', '--api-url', e.url],
      env: () => ({ THIRDLOOP_API_KEY: 'not-a-credential' }),
      exit: 4,
      says: /THIRDLOOP_API_KEY/,
    },
  ];
}

function nameCases(): Case[] {
  return [
    { name: 'auth --name with a bell and escape', args: (e) => ['auth', '--api-url', e.url, '--name', 'lap\u0007top\u001b[31m'], exit: 2, says: /control character/ },
    { name: 'auth --name of 100 KB', args: (e) => ['auth', '--api-url', e.url, '--name', HUGE_ARG], exit: 2, says: /at most 64 are allowed/ },
    { name: 'auth --name empty', args: (e) => ['auth', '--api-url', e.url, '--name', '  '], exit: 2, says: /must not be empty/ },
    { name: 'keys create --name with a newline', signedIn: true, args: ['keys', 'create', '--name', 'a\nb'], exit: 2, says: /control character/ },
    { name: 'keys create --name with an ANSI escape', signedIn: true, args: ['keys', 'create', '--name', '\u001b[2Jwipe'], exit: 2, says: /control character/ },
    { name: 'keys create --name of 100 KB', signedIn: true, args: ['keys', 'create', '--name', HUGE_ARG], exit: 2, says: /64/ },
    { name: 'keys rename to a tab', signedIn: true, args: (e) => ['keys', 'rename', e.keyId, 'tab\there'], exit: 2, says: /control character/ },
    { name: 'keys rename to empty', signedIn: true, args: (e) => ['keys', 'rename', e.keyId, ''], exit: 2, says: /name/ },
    { name: 'keys disable an unknown key', signedIn: true, args: ['keys', 'disable', 'no-such-key', '--yes'], exit: 1, says: /no-such-key/ },
    { name: 'keys delete an ID with control characters', signedIn: true, args: ['keys', 'delete', 'tlk_\u0007', '--yes'], exit: 2, says: /not a key ID/ },
  ];
}

/** No prompt without a terminal: fail naming the flag instead, and change nothing. */
function noTerminalCases(): Case[] {
  return [
    { name: 'no terminal: logout --revoke without --yes', signedIn: true, args: ['logout', '--revoke'], exit: 2, says: /--yes/ },
    { name: 'no terminal: keys delete without --yes', signedIn: true, args: (e) => ['keys', 'delete', e.keyId], exit: 2, says: /--yes/ },
    { name: 'no terminal: auth when already signed in', signedIn: true, args: (e) => ['auth', '--api-url', e.url], exit: 1, says: /Already signed in/ },
    { name: 'auth --rotate on another instance', signedIn: true, args: ['auth', '--rotate', '--api-url', 'https://other.example.com'], exit: 2, says: /--rotate replaces a key on/ },
    {
      name: 'credentials.json is a directory: logout --yes',
      signedIn: true,
      args: ['logout', '--yes'],
      prepare: (home) => (rmSync(cfg(home, 'credentials.json')), mkdirSync(cfg(home, 'credentials.json'))),
      exit: 1,
      says: /credentials\.json.*directory/,
    },
  ];
}

function notSignedInCases(): Case[] {
  const cmd = (args: string[]): Case => ({ name: `not signed in: ${args.join(' ')}`, args, exit: 4, says: /Not signed in/ });
  return [
    cmd(['status']),
    cmd(['token']),
    cmd(['keys', 'list']),
    cmd(['keys', 'create', '--name', 'x']),
    cmd(['keys', 'rotate', 'laptop', '--yes']),
    cmd(['setup', 'claude', '--shell', 'bash']),
    cmd(['setup', 'opencode']),
  ];
}

function serverCases(e: { tls: boolean }): Case[] {
  const cases: Case[] = [];
  const commands: Array<{ label: string; args: string[] | ((e: Env) => string[]) }> = [
    { label: 'status', args: ['status'] },
    { label: 'keys list', args: ['keys', 'list'] },
    { label: 'keys create', args: ['keys', 'create', '--name', 'ci', '--expires', '30'] },
    { label: 'keys rotate', args: (env) => ['keys', 'rotate', env.keyId, '--yes'] },
  ];
  const modes: Array<{ mode: Misbehaviour; label: string; says: RegExp; exit?: 1 | 4; only?: string[] }> = [
    { mode: 'html', label: 'HTML instead of JSON', says: /HTML page/ },
    { mode: 'html404', label: 'an HTML 404 page', says: /404|HTML/, only: ['keys list', 'keys create'] },
    { mode: 'truncated', label: 'truncated JSON', says: /not valid JSON/ },
    { mode: 'cut', label: 'connection cut mid-body', says: /closed|failed/, only: ['keys list', 'keys create'] },
    { mode: 'empty', label: 'an empty 200', says: /\S/, only: ['status', 'keys list', 'keys create'] },
    { mode: 'object', label: '{} instead of the answer', says: /\S/ },
    { mode: 'array', label: '[] instead of the answer', says: /\S/, only: ['status', 'keys list'] },
    { mode: 'wrongtypes', label: 'fields of the wrong types', says: /\S/ },
    { mode: 'status500', label: '500', says: /server error \(500/ },
    { mode: 'status503json', label: '503 with a JSON error', says: /server error \(503/, only: ['keys list', 'keys create'] },
    { mode: 'status429', label: '429 with Retry-After: 1', says: /rate limiting.*429/ },
    { mode: 'status429long', label: '429 with Retry-After: 3600', says: /try again in 3600 s/, only: ['keys list', 'keys create'] },
    { mode: 'status401', label: '401', says: /did not accept/, exit: 4, only: ['keys list', 'keys create'] },
    { mode: 'reset', label: 'connection reset', says: /closed before an answer/, only: ['status', 'keys list', 'keys create'] },
  ];
  for (const m of modes) {
    for (const c of commands) {
      if (m.only && !m.only.includes(c.label)) continue;
      cases.push({ name: `server: ${m.label}: ${c.label}`, args: c.args, at: atBad(m.mode), exit: m.exit ?? 1, says: m.says });
    }
    if (!m.only || m.mode === 'status401') {
      cases.push({
        name: `server: ${m.label}: auth --with-key`,
        args: (env) => ['auth', '--with-key', '--api-url', env.bad.url(m.mode)],
        input: (env) => env.credential,
        exit: m.exit ?? 1,
        says: m.says,
      });
    }
  }
  cases.push(
    { name: 'server: connection refused: status', args: ['status'], at: (env) => env.bad.refusedUrl, exit: 1, says: /connection refused/ },
    { name: 'server: connection refused: keys list', args: ['keys', 'list'], at: (env) => env.bad.refusedUrl, exit: 1, says: /connection refused/ },
    { name: 'server: connection refused: keys create', args: ['keys', 'create', '--name', 'x'], at: (env) => env.bad.refusedUrl, exit: 1, says: /connection refused/ },
    { name: 'server: connection refused: auth --with-key', args: (env) => ['auth', '--with-key', '--api-url', env.bad.refusedUrl], input: (env) => env.credential, exit: 1, says: /connection refused/ },
    // The core has no knob to shorten its 30 s read timeout: one case pays it, in parallel with the rest.
    { name: 'server: no answer (read timeout): keys list', args: ['keys', 'list'], at: atBad('hang'), env: () => ({ THIRDLOOP_HTTP_TIMEOUT: '1' }), exit: 1, says: /did not answer in time/, timeoutMs: 30_000 },
  );
  // Signed in with the secret in the 0600 file: a failed request must leave config and credentials alone.
  const signedInAt = (mode: Misbehaviour, args: (env: Env) => string[], says: RegExp): Case => ({
    name: `server (signed-in HOME): ${mode}: ${args({ keyId: '<id>' } as Env).join(' ')}`,
    at: atBad(mode),
    args,
    exit: 1,
    says,
  });
  cases.push(
    signedInAt('status500', () => ['status'], /server error \(500/),
    signedInAt('wrongtypes', () => ['status'], /unexpected shape/),
    signedInAt('status500', (env) => ['keys', 'rotate', env.keyId, '--yes'], /server error \(500/),
    signedInAt('html', (env) => ['keys', 'rotate', env.keyId, '--yes'], /HTML page/),
    signedInAt('status500', () => ['logout', '--revoke', '--yes'], /server error \(500/),
    signedInAt('reset', () => ['logout', '--revoke', '--yes'], /closed before an answer/),
    signedInAt('truncated', () => ['keys', 'create', '--name', 'x'], /not valid JSON/),
  );
  const tlsSkip = e.tls ? undefined : 'openssl is not installed';
  for (const c of commands.slice(0, 3)) {
    cases.push({
      name: `server: self-signed TLS certificate: ${c.label}`,
      args: c.args,
      at: (env) => env.bad.tlsUrl('json'),
      exit: 1,
      says: /TLS error|certificate/,
      skip: tlsSkip,
    });
  }
  cases.push({
    name: 'server: self-signed TLS certificate: auth --with-key',
    args: (env) => ['auth', '--with-key', '--api-url', env.bad.tlsUrl('json') ?? ''],
    input: (env) => env.credential,
    exit: 1,
    says: /TLS error|certificate/,
    skip: tlsSkip,
  });
  return cases;
}

function configFileCases(): Case[] {
  const cases: Case[] = [];
  const corruptions: Array<{ label: string; prepare: (file: string) => void; says: RegExp; exit?: 1 | 2 | 4 }> = [
    { label: 'garbage', prepare: (f) => write(f, 'profiles = { default }'), says: /config file.*not valid JSON/ },
    { label: 'empty', prepare: (f) => write(f, ''), says: /config file|Not signed in|instance URL/ },
    { label: 'binary (NUL bytes)', prepare: (f) => write(f, NUL_BYTES), says: /config file/ },
    // Not an object: named, and left as it is (a write would replace the user's array).
    { label: 'a JSON array', prepare: (f) => write(f, '[1,2,3]'), says: /config file .*does not hold a JSON object/ },
    { label: 'profiles is a string', prepare: (f) => write(f, '{"profiles":"default"}'), says: /Not signed in\.\nRun `thirdloop auth --api-url URL`/, exit: 4 },
    { label: 'apiUrl is a number', prepare: (f) => write(f, '{"profiles":{"default":{"apiUrl":42,"keyId":"tlk_x","storage":"file"}}}'), says: /profile's API URL/, exit: 2 },
    { label: 'apiUrl is not a URL', prepare: (f) => write(f, '{"profiles":{"default":{"apiUrl":"not a url","keyId":"tlk_x","storage":"file"}}}'), says: /profile's API URL/, exit: 2 },
    { label: 'a directory', prepare: (f) => mkdirSync(f, { recursive: true }), says: /config file/ },
    { label: 'a symlink loop', prepare: (f) => symlinkSync(path.basename(f), f), says: /config file/ },
    { label: '5 MB of garbage', prepare: (f) => write(f, '{'.repeat(5 * 1024 * 1024)), says: /config file/ },
  ];
  for (const c of corruptions) {
    for (const args of [['status'], ['keys', 'list'], ['setup', 'claude', '--shell', 'bash']]) {
      if (args[0] !== 'status' && !['garbage', 'a directory', 'apiUrl is a number', 'a symlink loop'].includes(c.label)) continue;
      cases.push({
        name: `config.json ${c.label}: ${args.join(' ')}`,
        signedIn: true,
        args,
        prepare: (home) => {
          rmSync(cfg(home, 'config.json'), { force: true });
          c.prepare(cfg(home, 'config.json'));
        },
        exit: c.exit ?? 1,
        says: c.says,
      });
    }
  }
  cases.push({
    name: 'config dir is a file: auth --with-key',
    args: (e) => ['auth', '--with-key', '--api-url', e.url],
    input: (e) => e.credential,
    prepare: (home) => write(path.join(home, CONFIG), 'not a folder'),
    exit: 1,
    says: /config directory|Cannot/,
  });
  cases.push({
    name: 'config dir under /proc: auth --with-key',
    args: (e) => ['auth', '--with-key', '--api-url', e.url],
    env: () => ({ THIRDLOOP_CONFIG_DIR: '/proc/self/thirdloop' }),
    input: (e) => e.credential,
    exit: 1,
    says: /Cannot create the config directory/,
  });
  cases.push({
    name: 'fish conf.d under /proc: setup claude --shell fish',
    signedIn: true,
    args: ['setup', 'claude', '--shell', 'fish', '--yes'],
    env: (_e, home) => ({ XDG_CONFIG_HOME: '/proc/self/xdg', THIRDLOOP_CONFIG_DIR: cfg(home) }),
    exit: 1,
    says: /Cannot/,
  });
  return cases;
}

function credentialsFileCases(): Case[] {
  const corruptions: Array<{ label: string; prepare: (file: string) => void; exit: 1 | 4; says: RegExp }> = [
    { label: 'garbage', prepare: (f) => write(f, 'default=tlk_', 0o600), exit: 1, says: /credentials file.*not valid JSON/ },
    { label: 'empty', prepare: (f) => write(f, '', 0o600), exit: 4, says: /Not signed in/ },
    { label: 'binary (NUL bytes)', prepare: (f) => write(f, NUL_BYTES, 0o600), exit: 1, says: /credentials file/ },
    { label: 'a JSON array', prepare: (f) => write(f, '["tlk_x;tls_y"]', 0o600), exit: 1, says: /not a JSON object/ },
    { label: 'the credential is a number', prepare: (f) => write(f, '{"default": 42}', 0o600), exit: 4, says: /Not signed in/ },
    { label: 'a malformed credential', prepare: (f) => write(f, '{"default": "tlk_abc;tls_def"}', 0o600), exit: 4, says: /stored credential/ },
    { label: 'a directory', prepare: (f) => mkdirSync(f), exit: 1, says: /credentials\.json.*directory/ },
    { label: 'a symlink loop', prepare: (f) => symlinkSync(path.basename(f), f), exit: 1, says: /credentials\.json/ },
  ];
  const cases: Case[] = [];
  for (const c of corruptions) {
    for (const args of [['status'], ['token'], ['setup', 'claude', '--shell', 'bash']]) {
      if (args[0] !== 'status' && !['garbage', 'a directory', 'a malformed credential'].includes(c.label)) continue;
      cases.push({
        name: `credentials.json ${c.label}: ${args.join(' ')}`,
        signedIn: true,
        args,
        prepare: (home) => {
          rmSync(cfg(home, 'credentials.json'), { force: true });
          c.prepare(cfg(home, 'credentials.json'));
        },
        exit: c.exit,
        says: c.says,
      });
    }
  }
  return cases;
}

function profileCases(): Case[] {
  const setup = (shells: string, label: string, prepare: (home: string) => void, says: RegExp, skip?: string): Case => ({
    name: `profile ${label}: setup claude --shell ${shells}`,
    signedIn: true,
    args: ['setup', 'claude', '--shell', shells, '--yes'],
    prepare,
    exit: 1,
    says,
    skip,
  });
  const bashrc = (home: string) => path.join(home, '.bashrc');
  const zshrc = (home: string) => path.join(home, '.zshrc');
  const fishConfD = (home: string) => path.join(home, '.config', 'fish', 'conf.d');
  return [
    setup('bash', '~/.bashrc is a directory', (h) => mkdirSync(bashrc(h)), /directory/),
    setup('bash,zsh', '~/.zshrc is a directory (bash must stay untouched)', (h) => (write(bashrc(h), '# mine\n'), mkdirSync(zshrc(h))), /\.zshrc.*directory/),
    setup('bash', '~/.bashrc is a symlink loop', (h) => symlinkSync('.bashrc', bashrc(h)), /symlink loop/),
    setup('bash', '~/.bashrc is a two-link loop', (h) => (symlinkSync('.b', bashrc(h)), symlinkSync('.bashrc', path.join(h, '.b'))), /symlink loop/),
    setup('bash', '~/.bashrc is read-only (mode 0444)', (h) => write(bashrc(h), 'alias ll="ls -l"\n', 0o444), /read-only/),
    setup('bash', '~/.bashrc is immutable (chattr +i)', (h) => (write(bashrc(h), 'alias ll="ls -l"\n'), makeImmutable(bashrc(h))), /permission denied|read-only|Cannot/, needsChattr),
    setup('bash,zsh,fish', 'the config dir is immutable (env files cannot be written)', (h) => {
      write(bashrc(h), '# mine\n');
      mkdirSync(cfg(h), { recursive: true });
      makeImmutable(cfg(h));
    }, /permission denied|Cannot/, needsChattr),
    setup('bash', 'env.sh is a directory', (h) => mkdirSync(cfg(h, 'env.sh'), { recursive: true }), /env\.sh.*directory/),
    setup('fish', 'fish conf.d is a file', (h) => write(fishConfD(h), 'oops'), /conf\.d|not a folder|directory/),
    setup('fish', '~/.config/fish is a file', (h) => write(path.join(h, '.config', 'fish'), 'oops'), /fish|not a folder|directory/),
    {
      ...setup('zsh', 'ZDOTDIR is under a file', (h) => write(path.join(h, 'afile'), 'x'), /not a folder|directory|Cannot/),
      env: (_e: Env, home: string) => ({ ZDOTDIR: path.join(home, 'afile', 'zsh') }),
    },
    setup('bash', '~/.bashrc is binary (NUL bytes)', (h) => write(bashrc(h), Buffer.concat([NUL_BYTES, NUL_BYTES])), /NUL bytes/),
    setup('zsh', '~/.zshrc is UTF-8 with a NUL byte', (h) => write(zshrc(h), 'export PATH="$HOME/bin:$PATH"\n\u0000\n'), /NUL bytes/),
    setup('bash', '~/.bashrc has a damaged thirdloop block', (h) =>
      write(bashrc(h), '# mine\n# >>> thirdloop >>>\nif [ -f x ]; then . x; fi\n'), /thirdloop lines|Cannot edit/),
    // Not regular files: refused at once, never opened (a FIFO would hang the read), never replaced.
    setup('bash', '~/.bashrc is a FIFO', (h) => fifo(bashrc(h)), /~\/\.bashrc: it is a FIFO \(named pipe\), not a regular file/),
    { ...setup('bash', '~/.bashrc is a FIFO (--dry-run)', (h) => fifo(bashrc(h)), /FIFO/), args: ['setup', 'claude', '--shell', 'bash', '--dry-run'] },
    setup('bash', '~/.bashrc links to a character device', (h) => symlinkSync('/dev/null', bashrc(h)), /character device \(it links to \/dev\/null\)/),
    setup('zsh', '~/.zshenv links to a FIFO elsewhere', (h) => (fifo(path.join(h, 'pipe')), symlinkSync(path.join(h, 'pipe'), path.join(h, '.zshenv'))), /\.zshenv: it is a FIFO/),
    setup('bash', 'env.sh is a FIFO', (h) => (mkdirSync(cfg(h), { recursive: true }), fifo(cfg(h, 'env.sh'))), /env\.sh: it is a FIFO/),
    // Judged by mode bits, as root too: a read-only folder (a Nix store) is not written into.
    setup('zsh', '~/.zshrc links into a read-only folder', (h) => {
      write(path.join(h, 'store', 'zshrc'), 'setopt autocd\n');
      chmodSync(path.join(h, 'store'), 0o555);
      symlinkSync(path.join(h, 'store', 'zshrc'), zshrc(h));
    }, /store is not writable/),
  ];
}

function opencodeCases(): Case[] {
  const project = (label: string, prepare: (file: string, home: string) => void, says: RegExp, skip?: string): Case => ({
    name: `opencode.json ${label}: setup opencode`,
    signedIn: true,
    args: ['setup', 'opencode', '--yes'],
    prepare: (home) => prepare(path.join(home, 'opencode.json'), home),
    exit: 1,
    says,
    skip,
  });
  return [
    project('is garbage', (f) => write(f, '{ "model": anthropic/claude'), /opencode\.json/),
    project('is binary (NUL bytes)', (f) => write(f, NUL_BYTES), /opencode\.json/),
    project('is a JSON array', (f) => write(f, '[]'), /opencode\.json/),
    { ...project('has provider as a string', (f) => write(f, '{"provider": "anthropic"}'), /"provider" is not an object/), exit: 2 },
    project('is a directory', (f) => mkdirSync(f), /opencode\.json.*directory|directory/),
    project('is a symlink loop', (f) => symlinkSync('opencode.json', f), /opencode\.json/),
    project('is immutable (chattr +i)', (f) => (write(f, '{"$schema":"https://opencode.ai/config.json"}\n'), makeImmutable(f)), /opencode\.json|permission/, needsChattr),
    project('has an unclosed comment', (f) => write(f, '{ /* provider settings\n "model": "x" }'), /opencode\.json/),
    {
      name: 'global opencode.json is garbage: setup opencode --global',
      signedIn: true,
      args: ['setup', 'opencode', '--global', '--yes'],
      prepare: (home) => write(path.join(home, '.config', 'opencode', 'opencode.json'), '{{{'),
      exit: 1,
      says: /opencode\.json/,
    },
  ];
}

function claudeSettingsCases(): Case[] {
  const settings = (label: string, prepare: (file: string) => void, says: RegExp, skip?: string): Case => ({
    name: `~/.claude/settings.json ${label}: setup claude --key-helper`,
    signedIn: true,
    args: ['setup', 'claude', '--key-helper', '--yes'],
    prepare: (home) => prepare(path.join(home, '.claude', 'settings.json')),
    exit: 1,
    says,
    skip,
  });
  return [
    settings('is garbage', (f) => write(f, '{ "permissions": { allow: [ }'), /settings\.json/),
    settings('is binary (NUL bytes)', (f) => write(f, NUL_BYTES), /settings\.json/),
    settings('is a JSON array', (f) => write(f, '["apiKeyHelper"]'), /settings\.json/),
    settings('is a directory', (f) => mkdirSync(f, { recursive: true }), /settings\.json.*directory/),
    settings('is a symlink loop', (f) => (mkdirSync(path.dirname(f), { recursive: true }), symlinkSync('settings.json', f)), /settings\.json/),
    settings('is immutable (chattr +i)', (f) => (write(f, '{"model":"opus"}\n'), makeImmutable(f)), /settings\.json/, needsChattr),
    {
      name: 'server: 401: setup opencode',
      args: ['setup', 'opencode', '--yes'],
      at: atBad('status401'),
      exit: 4,
      says: /refused the stored key/,
    },
  ];
}

/** doctor reports every problem with a fix: non-zero, no internals in its lines, nothing changed. */
function doctorCases(): Case[] {
  const doctor = (label: string, c: Partial<Case> & { says: RegExp; exit: 1 | 4 }): Case => ({ name: `doctor: ${label}`, args: ['doctor'], report: true, ...c });
  return [
    doctor('config.json is garbage', { signedIn: true, exit: 1, says: /config file.*not valid JSON/, prepare: (h) => write(cfg(h, 'config.json'), '{{{') }),
    doctor('config.json is a directory', { signedIn: true, exit: 1, says: /config/, prepare: (h) => (rmSync(cfg(h, 'config.json')), mkdirSync(cfg(h, 'config.json'))) }),
    doctor('credentials.json is garbage', { signedIn: true, exit: 4, says: /credentials file/, prepare: (h) => write(cfg(h, 'credentials.json'), 'nope', 0o600) }),
    doctor('~/.bashrc is a FIFO (answers at once, names it)', { signedIn: true, exit: 1, says: /~\/\.bashrc is a FIFO/, timeoutMs: 15_000, prepare: (h) => (fifo(path.join(h, '.bashrc')), write(path.join(h, '.profile'), '# >>> thirdloop >>>\n# <<< thirdloop <<<\n')) }),
    doctor('env.sh is a directory', { signedIn: true, exit: 1, says: /env\.sh|bash/, prepare: (h) => (write(path.join(h, '.bashrc'), '# >>> thirdloop >>>\n# <<< thirdloop <<<\n'), mkdirSync(cfg(h, 'env.sh'))) }),
    doctor('opencode.json is garbage', { signedIn: true, exit: 1, says: /opencode\.json/, prepare: (h) => write(path.join(h, 'opencode.json'), '{ "provider": ') }),
    doctor('instance answers HTML', { at: atBad('html'), exit: 1, says: /HTML page/ }),
    doctor('instance answers 500', { at: atBad('status500'), exit: 1, says: /server error|500/ }),
    doctor('instance answers truncated JSON', { at: atBad('truncated'), exit: 1, says: /not valid JSON|JSON/ }),
    doctor('instance answers wrong types', { at: atBad('wrongtypes'), exit: 1, says: /unexpected|shape|instance/ }),
    doctor('instance resets the connection', { at: atBad('reset'), exit: 1, says: /closed before an answer/ }),
    doctor('instance refuses connections', { at: (e) => e.bad.refusedUrl, exit: 1, says: /connection refused/ }),
  ];
}

function allCases(tls: boolean): Case[] {
  return [
    ...usageCases(),
    ...urlCases(),
    ...credentialInputCases(),
    ...nameCases(),
    ...notSignedInCases(),
    ...noTerminalCases(),
    ...serverCases({ tls }),
    ...configFileCases(),
    ...credentialsFileCases(),
    ...profileCases(),
    ...opencodeCases(),
    ...claudeSettingsCases(),
    ...doctorCases(),
  ];
}

interface Outcome {
  result?: Run;
  changes: string[];
  error?: string;
}

let server: ReferenceServer;
let bad: MisbehavingServer;
let env: Env;
let template: string;
const roots: string[] = [];
const outcomes = new Map<string, Outcome>();
const TLS = !needs('openssl');
const cases = allCases(TLS);

/** Points the signed-in profile at another instance, as if `thirdloop auth` had signed in there. */
function moveProfile(home: string, url: string | undefined): void {
  if (!url) throw new Error('no URL for this case');
  const file = cfg(home, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as { profiles: Record<string, { apiUrl: string }> };
  config.profiles.default!.apiUrl = url;
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
}

async function runCase(c: Case): Promise<Outcome> {
  const home = mkdtempSync(path.join(tmpdir(), 'thirdloop-bad-'));
  roots.push(home);
  try {
    if (c.signedIn || c.at) cpSync(template, home, { recursive: true, verbatimSymlinks: true });
    if (c.at) moveProfile(home, c.at(env));
    c.prepare?.(home, env);
    const before = snapshot(home);
    const extra = c.env?.(env, home) ?? {};
    const result = await runCliSafe(typeof c.args === 'function' ? c.args(env) : c.args, {
      home,
      env: { NO_COLOR: '1', ...extra },
      input: typeof c.input === 'function' ? c.input(env) : c.input,
      timeoutMs: c.timeoutMs ?? 20_000,
    });
    return { result, changes: diffSnapshots(before, snapshot(home)) };
  } catch (error) {
    return { changes: [], error: (error as Error).stack ?? String(error) };
  }
}

beforeAll(async () => {
  ensureCliBuilt();
  [server, bad] = await Promise.all([startReferenceServer(), startMisbehavingServer()]);
  const { email } = await server.addUser('robust@example.com');
  const key = await server.createKey(email, { name: 'robustness' });
  env = { url: server.url, credential: key.credential, keyId: key.id, bad };

  // One signed-in HOME (secret in the 0600 file, no keychain) that signed-in cases copy.
  template = mkdtempSync(path.join(tmpdir(), 'thirdloop-bad-template-'));
  roots.push(template);
  const auth = await runCli(['auth', '--with-key', '--insecure-storage', '--api-url', server.url], { home: template, input: key.credential });
  if (auth.exitCode !== 0) throw new Error(`template sign-in failed: ${auth.stderr}`);

  const runnable = cases.filter((c) => !c.skip);
  const results = await pool(4, runnable.map((c) => async () => [c.name, await runCase(c)] as const));
  for (const [name, outcome] of results) outcomes.set(name, outcome);
  if (process.env.THIRDLOOP_TEST_TIMINGS) {
    const slow = results.map(([name, o]) => [name, o.result?.ms ?? -1] as const).sort((a, b) => b[1] - a[1]).slice(0, 15);
    console.log(slow.map(([name, ms]) => `${ms} ms  ${name}`).join('\n'));
  }
}, 600_000);

afterAll(async () => {
  for (const root of roots) {
    clearImmutable(root);
    rmSync(root, { recursive: true, force: true });
  }
  await Promise.all([server?.stop(), bad?.stop()]);
});

describe('bad input: exit code, one sentence, no file changed', () => {
  it('has 80+ cases with unique names', () => {
    expect(cases.length).toBeGreaterThanOrEqual(80);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  for (const c of cases) {
    it.skipIf(Boolean(c.skip))(c.name, () => {
      const outcome = outcomes.get(c.name);
      expect(outcome, 'the case did not run').toBeDefined();
      expect(outcome!.error).toBeUndefined();
      const r = outcome!.result!;
      const shown = `exit ${r.exitCode}${r.signal ? ` (${r.signal})` : ''}\nstderr: ${r.stderr.slice(0, 1500)}\nstdout: ${r.stdout.slice(0, 500)}`;
      expect(r.exitCode, shown).toBe(c.exit);
      if (c.report) {
        const lines = `${r.stdout}\n${r.stderr}`;
        expect(stderrProblems(lines).filter((p) => !/sentence|characters long/.test(p)), shown).toEqual([]);
      } else expect(stderrProblems(r.stderr), shown).toEqual([]);
      expect(r.stdout, 'no stack on stdout').not.toMatch(/^\s+at\s/m);
      if (c.says) expect(c.report ? `${r.stdout}\n${r.stderr}` : r.stderr, shown).toMatch(c.says);
      // Whatever went wrong, the secret (given on stdin or stored) and a password in a URL stay out of the output.
      for (const secret of [env.credential.split(';')[1]!, 'hunter2', 's3cr3t-pw']) {
        expect(r.stderr.includes(secret) || r.stdout.includes(secret), `"${secret.slice(0, 6)}…" printed\n${shown}`).toBe(false);
      }
      expect(outcome!.changes, `files changed\n${shown}`).toEqual([]);
    });
  }

  it('the misbehaving server was really asked', () => {
    for (const mode of ['html', 'truncated', 'status500', 'status429', 'reset', 'hang'] as const) {
      expect(bad.hits.get(mode) ?? 0, mode).toBeGreaterThan(0);
    }
    // Retry-After: 1 on a GET is retried (twice), a POST is not.
    expect(bad.hits.get('status429')).toBeGreaterThanOrEqual(3);
  });
});

/**
 * A real Secret Service for keychain tests: a private D-Bus session
 * (dbus-run-session) with gnome-keyring-daemon unlocked (its password on
 * stdin, never argv), its keyrings under a temporary HOME. Processes join it
 * through DBUS_SESSION_BUS_ADDRESS; secrets are read back with secret-tool.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { needs } from './components.js';

export const keyringMissing = () => needs('dbus-run-session', 'gnome-keyring-daemon', 'secret-tool', 'dbus-send');

export interface Keyring {
  /** Environment to add to a process so it uses this keyring. */
  env: { DBUS_SESSION_BUS_ADDRESS: string };
  /** `secret-tool lookup service thirdloop username <profile>` (the item the CLI writes); undefined when absent. */
  lookup(account: string, service?: string): Promise<string | undefined>;
  /** The item thirdloop 0.1 wrote through libsecret (`service`, `account`). */
  lookupLegacy(account: string): Promise<string | undefined>;
  storeLegacy(account: string, secret: string): Promise<void>;
  /** Locks the login collection, as a screen lock or a fresh login does. */
  lock(): Promise<void>;
  stop(): Promise<void>;
}

export async function startKeyring(): Promise<Keyring> {
  const home = mkdtempSync(join(tmpdir(), 'thirdloop-keyring-'));
  const password = randomBytes(12).toString('hex');
  // The daemon reads the keyring password from stdin; `exec cat` then keeps the
  // session alive until we close stdin.
  const script =
    'IFS= read -r pw; printf %s "$pw" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || exit 3; ' +
    'echo "BUS=$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null';
  const child: ChildProcess = spawn('dbus-run-session', ['--', 'sh', '-c', script], {
    env: { PATH: process.env.PATH, HOME: home, XDG_DATA_HOME: join(home, '.local', 'share'), XDG_RUNTIME_DIR: home },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdin!.write(`${password}\n`);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`keyring did not start: ${stderr}`)), 15_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^BUS=(.+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`keyring session exited ${code}: ${stderr}`));
    });
  });
  const env = { DBUS_SESSION_BUS_ADDRESS: address };
  const toolEnv = { ...process.env, ...env, HOME: home };
  const lookup = (attributes: string[]) =>
    new Promise<string | undefined>((resolve, reject) => {
      execFile('secret-tool', ['lookup', ...attributes], { env: toolEnv }, (error, stdout) => {
        if (error && (error as { code?: number }).code === 1 && stdout === '') return resolve(undefined);
        if (error) return reject(error);
        resolve(stdout === '' ? undefined : stdout);
      });
    });
  return {
    env,
    lookup: (account, service = 'thirdloop') => lookup(['service', service, 'username', account]),
    lookupLegacy: (account) => lookup(['service', 'thirdloop', 'account', account]),
    storeLegacy(account, secret) {
      return new Promise((resolve, reject) => {
        const child = execFile('secret-tool', ['store', '--label', `thirdloop/${account}`, 'service', 'thirdloop', 'account', account], { env: toolEnv }, (error) =>
          error ? reject(error) : resolve(),
        );
        child.stdin!.end(secret);
      });
    },
    lock() {
      return new Promise((resolve, reject) => {
        execFile(
          'dbus-send',
          ['--session', '--dest=org.freedesktop.secrets', '--print-reply', '/org/freedesktop/secrets', 'org.freedesktop.Secret.Service.Lock', 'array:objpath:/org/freedesktop/secrets/collection/login'],
          { env: toolEnv },
          (error) => (error ? reject(error) : resolve()),
        );
      });
    },
    async stop() {
      child.stdin!.end();
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* already gone */
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

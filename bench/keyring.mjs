// A private Secret Service for the login benchmark: dbus-run-session with gnome-keyring-daemon
// unlocked (password on stdin), so "secret stored" means stored in a real keychain.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const have = (command) => spawnSync('sh', ['-c', 'command -v "$0"', command]).status === 0;

export async function startKeyring() {
  const missing = ['dbus-run-session', 'gnome-keyring-daemon'].filter((c) => !have(c));
  if (missing.length > 0) return { skipped: `missing ${missing.join(', ')}` };
  const home = mkdtempSync(join(tmpdir(), 'thirdloop-bench-keyring-'));
  const script =
    'IFS= read -r pw; printf %s "$pw" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || exit 3; ' +
    'echo "BUS=$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null';
  const child = spawn('dbus-run-session', ['--', 'sh', '-c', script], {
    env: { PATH: process.env.PATH, HOME: home, XDG_DATA_HOME: join(home, '.local', 'share'), XDG_RUNTIME_DIR: home },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  child.stdin.write(`${randomBytes(12).toString('hex')}\n`);
  const stop = () => {
    child.stdin.end();
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    rmSync(home, { recursive: true, force: true });
  };
  try {
    const address = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the keyring did not start in 15 s')), 15_000);
      createInterface({ input: child.stdout }).on('line', (line) => {
        const m = /^BUS=(.+)$/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('exit', (code) => reject(new Error(`the keyring session exited ${code}`)));
    });
    return { env: { DBUS_SESSION_BUS_ADDRESS: address }, stop };
  } catch (error) {
    stop();
    return { skipped: error.message };
  }
}

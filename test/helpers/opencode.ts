/**
 * The real opencode, as the judge of what `setup opencode` and `doctor` say:
 * it is run in a fixture folder (`opencode models thirdloop`) and either
 * lists our provider's models (loaded) or says "Provider not found".
 *
 * It is not a dependency of the package: .ci/run installs it into .tmp/opencode
 * (`npm install --prefix .tmp/opencode opencode-ai@<version>`); an `opencode`
 * on PATH is used otherwise. A missing one skips, and fails under CI.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inCI, which } from './components.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function opencodeBinary(): string | undefined {
  const local = path.join(root, '.tmp/opencode/node_modules/.bin/opencode');
  return existsSync(local) ? local : which('opencode');
}

/** Undefined when the real opencode is here, else the reason (and a failure under CI). */
export function needsOpencode(): string | undefined {
  if (opencodeBinary()) return undefined;
  const reason = 'the real opencode is not installed (npm install --prefix .tmp/opencode opencode-ai, as .ci/run does)';
  if (inCI()) throw new Error(`${reason}; CI requires it`);
  console.warn(`skipping: ${reason}`);
  return reason;
}

/**
 * Whether opencode started in `cwd` with this HOME loads the `thirdloop`
 * provider. Its managed config folder is pointed at an empty one (the
 * machine's /etc/opencode is not the fixture's) unless `env` sets it, and
 * it reads an empty model catalogue instead of fetching one.
 */
export async function opencodeLoadsThirdloop(cwd: string, home: string, env: NodeJS.ProcessEnv = {}): Promise<{ loaded: boolean; answered: boolean; output: string }> {
  const binary = opencodeBinary();
  if (!binary) throw new Error('opencode is not installed');
  const scratch = mkdtempSync(path.join(tmpdir(), 'opencode-judge-'));
  // An empty model catalogue: opencode otherwise waits on models.dev (seconds offline); our provider brings its own models.
  const catalogue = path.join(scratch, 'models.json');
  writeFileSync(catalogue, '{}');
  const output = await new Promise<string>((resolve, reject) => {
    // stdin closed: opencode reads a prompt from a pipe and would wait on an open one.
    const child = spawn(binary, ['models', 'thirdloop'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        HOME: home,
        PATH: process.env.PATH,
        TERM: 'dumb',
        NO_COLOR: '1',
        OPENCODE_DISABLE_MODELS_FETCH: '1',
        OPENCODE_DISABLE_AUTOUPDATE: '1',
        OPENCODE_MODELS_PATH: catalogue,
        OPENCODE_TEST_MANAGED_CONFIG_DIR: scratch,
        ...env,
      },
    });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
  const loaded = /^thirdloop\//m.test(output);
  // Anything but a model list or "Provider not found" (a crash, a timeout) is no verdict at all.
  const answered = loaded || /Provider not found: thirdloop/.test(output);
  return { loaded, answered, output };
}

/**
 * Keychain items written by thirdloop 0.1 on Linux. That version stored the
 * secret through libsecret's generic schema with the attributes `service` and
 * `account`; the keychain binding we use now names the second one `username`,
 * so it cannot see those items. `secret-tool` (libsecret's own command) can:
 * when it is installed, an old item is read once, moved to the new entry and
 * cleared. The secret travels on secret-tool's stdout, never in its argv.
 * On macOS both bindings use the same service/account item; 0.1 items on
 * Windows are not read (run `thirdloop auth` again there).
 */
import { execFile } from 'node:child_process';

const DEADLINE_MS = 3_000;

function secretTool(args: string[], env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('secret-tool', args, { env, timeout: DEADLINE_MS, encoding: 'utf8' }, (error, stdout) => {
      // Not installed, no Secret Service, nothing stored: all mean "no old item".
      resolve(error ? undefined : stdout);
    });
  });
}

export async function readLegacyItem(service: string, account: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const out = await secretTool(['lookup', 'service', service, 'account', account], env);
  const value = out?.replace(/\r?\n$/, '');
  return value ? value : undefined;
}

export async function clearLegacyItem(service: string, account: string, env: NodeJS.ProcessEnv): Promise<void> {
  await secretTool(['clear', 'service', service, 'account', account], env);
}

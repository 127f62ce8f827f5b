/**
 * `thirdloop doctor`: checks the whole chain a Claude Code or opencode
 * request travels — the instance, the key, where the secret lives, the
 * shell profiles and env files, this shell's environment, opencode.json,
 * a real request through the gateway, and one through `thirdloop run`'s
 * broker — and says how to fix each link.
 * Read-only: it changes nothing. Exit 1 when a check fails, 4 when not signed in.
 */
import type { ConfigStore, Context, StoredSecret } from '../context.js';
import { createApi } from '../core/api.js';
import { configDir } from '../core/paths.js';
import { checkProfileName } from '../core/profile-name.js';
import { parseCredential } from '../core/credential.js';
import { UserError } from '../core/errors.js';
import { closeHttp } from '../core/http.js';
import { createOutput } from '../core/output.js';
import { debugWriter, ownInstanceError, resolveApiUrl } from '../core/session.js';
import { checkEnvironment } from '../doctor/environment.js';
import { checkGateway } from '../doctor/gateway.js';
import { checkInstance } from '../doctor/instance.js';
import { checkKey } from '../doctor/key.js';
import { checkOpencode } from '../doctor/opencode.js';
import { exitCodeFor, renderResults, summary } from '../doctor/report.js';
import { checkRun } from '../doctor/run.js';
import { checkShells } from '../doctor/shells.js';
import { readShellRecord } from '../shells/env-files.js';
import { currentShell } from '../shells/index.js';
import { checkKeychainReady, checkStorage } from '../doctor/storage.js';
import { result, type CheckResult } from '../doctor/types.js';

/** Doctor should answer quickly: short timeouts and no retries, so a dead instance is one quick failure. */
const HTTP = { connectTimeoutMs: 5_000, readTimeoutMs: 10_000, retries: 0 };

export async function collect(ctx: Context): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const profileName = checkProfileName(ctx.globals.profile);
  const signIn = profileName === 'default' ? 'thirdloop auth' : `thirdloop auth --profile ${profileName}`;
  // A damaged config file is something to diagnose, not a reason to stop.
  let config: ConfigStore | undefined;
  try {
    config = await ctx.config();
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    results.push(result('config', 'fail', error.message, error.hint ?? `Fix or delete the config file, then ${signIn}.`));
  }
  const profile = config?.getProfile(profileName) ?? {};
  let apiUrl: string | undefined;
  let badUrl: UserError | undefined;
  try {
    apiUrl = resolveApiUrl(ctx, profile);
  } catch (error) {
    // --api-url itself is the user's typo: a usage error. A bad stored URL is a finding.
    if (!(error instanceof UserError) || ctx.globals.apiUrl) throw error;
    badUrl = error;
  }
  const secrets = await ctx.secrets();

  let secret: StoredSecret | undefined;
  let unreadable = false;
  try {
    // A profile never signed in has no key, whatever a keychain still holds under its name
    // (when the config cannot be read, what is stored is still worth diagnosing).
    secret = !config || profile.keyId || ctx.env.THIRDLOOP_API_KEY?.trim() ? await secrets.get(profileName) : undefined;
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    unreadable = true;
    results.push(result('signed-in', 'fail', error.message, error.hint ?? signIn));
  }
  let credential: string | undefined;
  // The stored key is only ever sent to its own instance: against another URL, doctor checks that one without it.
  const elsewhere = secret && secret.source !== 'env' && apiUrl ? ownInstanceError(ctx, { profileName, profile, baseUrl: apiUrl }) : undefined;
  if (elsewhere) {
    // Nothing is asked of that other URL: the fix comes first.
    results.push(result('instance', 'fail', elsewhere.message, elsewhere.hint ?? signIn));
    results.push(await checkStorage(secrets, secret!, profileName, ctx.platform));
    return results;
  }
  if (secret) {
    try {
      const parsed = parseCredential(secret.credential, secret.source === 'env' ? 'THIRDLOOP_API_KEY' : 'The stored credential');
      credential = `${parsed.id};${parsed.secret}`;
      results.push(result('signed-in', 'ok', `Profile "${profileName}" uses key ${parsed.id}.`));
    } catch (error) {
      results.push(result('signed-in', 'fail', (error as Error).message, secret.source === 'env' ? 'Set THIRDLOOP_API_KEY to `<api_key_id>;<api_secret_key>`.' : signIn));
    }
  } else if (!unreadable) {
    results.push(result('signed-in', 'fail', profileName === 'default' ? 'Not signed in.' : `Not signed in (profile "${profileName}").`, `${signIn}${apiUrl ? '' : ' --api-url <instance URL>'}`));
  }

  if (!apiUrl) {
    results.push(
      badUrl
        ? result('instance', 'fail', badUrl.message, `${signIn} --force --api-url <instance URL>`)
        : result('instance', 'fail', 'No Third Loop instance URL is known for this profile.', 'Pass --api-url URL (or set THIRDLOOP_API_URL).'),
    );
    results.push(secret ? await checkStorage(secrets, secret, profileName, ctx.platform) : await checkKeychainReady(secrets, profileName, ctx.platform));
    return results;
  }
  const api = createApi({ baseUrl: apiUrl, credential, env: ctx.env, debug: debugWriter(ctx), userAgent: `thirdloop-cli doctor (${ctx.platform})`, ...HTTP });
  const instance = await checkInstance(api);
  results.push(instance);
  results.push(secret ? await checkStorage(secrets, secret, profileName, ctx.platform) : await checkKeychainReady(secrets, profileName, ctx.platform));
  if (!credential) {
    results.push(result('run', 'skip', '`thirdloop run` needs a stored key: sign in first.', signIn));
    return results;
  }

  const reachable = instance.status !== 'fail';
  const key = reachable
    ? await checkKey(api, credential.split(';')[0]!, ctx.clock.now())
    : { result: result('key', 'skip', 'Not checked: the instance is unreachable.'), me: undefined };
  results.push(key.result);

  const e = { platform: ctx.platform, homedir: ctx.homedir, env: ctx.env };
  if (config) results.push(...(await checkShells({ e, config, credential, apiUrl })));
  // The shell doctor runs in: set up with --via-run, it should carry no key.
  const current = currentShell(e);
  // Without SHELL (an `env -i` terminal), when every configured shell is in --via-run mode.
  const record = config ? readShellRecord(config) : undefined;
  const runShells = record?.runShells ?? [];
  const viaRun = current ? runShells.includes(current) : Boolean(record && record.shells.length > 0 && record.shells.every((s) => runShells.includes(s)));
  results.push(checkEnvironment(ctx.env, { credential, apiUrl }, { configDir: config?.dir ?? configDir(e), platform: ctx.platform, viaRun }));
  results.push(...(await checkOpencode({ cwd: ctx.cwd, homedir: ctx.homedir, env: ctx.env, platform: ctx.platform }, apiUrl)));

  if (key.me && key.me.key.status === 'active') {
    results.push(...(await checkGateway(api, key.me)));
    results.push(await checkRun({ instance: apiUrl, credential, env: ctx.env }));
  } else {
    const why = reachable ? 'the key is not usable' : 'the instance is unreachable';
    results.push(
      result('gateway', 'skip', `Not checked: ${why}.`),
      result('last-used', 'skip', `Not checked: ${why}.`),
      result('run', 'skip', `\`thirdloop run\` cannot work until ${why === 'the key is not usable' ? 'the key is usable' : 'the instance is reachable'}.`),
    );
  }
  return results;
}

export async function run(ctx: Context): Promise<void> {
  const out = createOutput(ctx);
  // A spinner only for a person watching: scripts (--json, pipes) get the results alone.
  const spinner = ctx.io.stderrIsTTY && !ctx.globals.json ? out.spinner('Checking the Third Loop set-up…') : undefined;
  let results: CheckResult[];
  try {
    results = await collect(ctx);
  } finally {
    spinner?.stop();
    await closeHttp();
  }
  if (ctx.globals.json) {
    out.json(results);
  } else {
    out.out(renderResults(results, out.c));
    out.out('');
    out.out(summary(results));
  }
  const code = exitCodeFor(results);
  // The results already say what is wrong; exit with the code and no second message.
  if (code !== 0) throw new UserError('', { exitCode: code });
}

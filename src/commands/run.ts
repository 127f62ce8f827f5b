/**
 * `thirdloop run [--profile P] -- <command> [args…]`: runs the command with a loopback broker in
 * front of the instance, so the command holds a per-run token and never the key. The key is read
 * as every command reads it (keychain, 0600 file or THIRDLOOP_API_KEY) and goes only to the
 * profile's own instance (requireSession refuses another origin, as for every command); the command gets ANTHROPIC_BASE_URL=http://127.0.0.1:<port> and
 * ANTHROPIC_API_KEY=<run token>. When it exits the broker closes (the token is dead) and run exits
 * with its status. Prints nothing of its own unless something needs saying (stderr only).
 */
import type { Context } from '../context.js';
import { startBroker } from '../broker/broker.js';
import { childEnvironment } from '../broker/child-env.js';
import { runCommand } from '../broker/command.js';
import { createRunToken } from '../broker/token.js';
import { formatCredential } from 'thirdloop-protocol';
import { UserError, usageError } from '../core/errors.js';
import { closeHttp } from '../core/http.js';
import { debugWriter, requireSession } from '../core/session.js';

export interface RunOptions {
  /** The command and its arguments: every word after the first `--`, untouched by option parsing. */
  command?: string[];
}

export async function run(ctx: Context, options: RunOptions): Promise<void> {
  const command = options.command;
  if (!command || command.length === 0 || !command[0]) {
    throw usageError('Put `--` before the command to run, so that its options stay its own.', 'thirdloop run -- claude');
  }
  const session = await requireSession(ctx);
  const warn = (line: string) => ctx.io.stderr.write(`thirdloop run: ${line}\n`);

  // Claude Code settings that would send the session past the broker, or another key to it: stop
  // here rather than start a session that cannot work (or is not protected).
  const { isClaudeCommand, claudeBypasses } = await import('../broker/claude-bypass.js');
  if (isClaudeCommand(command[0])) {
    const bypasses = await claudeBypasses({ env: ctx.env, homedir: ctx.homedir, cwd: ctx.cwd, platform: ctx.platform });
    if (bypasses.length > 0) {
      throw new UserError(`Claude Code's settings would take this session out of \`thirdloop run\`: ${bypasses.join(' ')}`, {
        hint: 'Remove those settings (`thirdloop setup claude --undo` removes what `setup claude --key-helper` wrote), then run again.',
      });
    }
  }

  const token = createRunToken();
  const debug = debugWriter(ctx);
  const broker = await startBroker({ instance: session.baseUrl, credential: formatCredential(session.credential.id, session.credential.secret), token, env: ctx.env, debug });
  let status: number;
  try {
    const child = childEnvironment(ctx.env, { baseUrl: broker.url, token: token.value, secret: session.credential.secret }, ctx.platform);
    if (child.withSecret.length > 0) warn(`left ${child.withSecret.join(', ')} out of the command's environment: ${child.withSecret.length === 1 ? 'it holds' : 'they hold'} a Third Loop key.`);
    if (child.dropped.length > 0) warn(`left ${child.dropped.join(', ')} out of the command's environment: clients would send it instead of the run token.`);
    debug?.(`run: broker on ${broker.url} for ${session.baseUrl} (key ${session.credential.id}), starting ${command[0]}`);
    status = await runCommand(command, { env: child.env, cwd: ctx.cwd, platform: ctx.platform });
  } finally {
    await broker.close();
    await closeHttp();
  }
  debug?.(`run: ${command[0]} exited with status ${status}; the broker is closed`);
  // The command's status is run's; it has said whatever it had to say.
  if (status !== 0) throw new UserError('', { exitCode: status });
}

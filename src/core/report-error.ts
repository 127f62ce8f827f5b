/**
 * The one top-level error handler: a UserError is its message and hint on
 * stderr and its exit code; commander's usage errors exit 2 (commander has
 * printed them); anything else is one sentence, with the stack only under
 * --debug. Kept to light imports so the start path stays light.
 */
import { redactSecrets as redact } from './credential.js';
import { Cancelled, ExitCode, UserError } from './errors.js';

/** commander's errors (bundling renames its classes, so check the shape). */
export function isCommanderError(error: unknown): error is Error & { code: string; exitCode: number } {
  const e = error as { code?: unknown; exitCode?: unknown } | null;
  return typeof e?.code === 'string' && e.code.startsWith('commander.') && typeof e.exitCode === 'number';
}


/** Prints a failure as one sentence (and its hint); a stack only with --debug. */
export function reportError(
  error: unknown,
  debug: boolean,
  stderr: NodeJS.WritableStream = process.stderr,
): number {
  if (isCommanderError(error)) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
    // commander already printed its message, or the help of a bare command group (`thirdloop keys`), as gh does.
    return error.code === 'commander.help' ? ExitCode.ok : ExitCode.usage;
  }
  if (error instanceof Cancelled) {
    stderr.write(`${redact(error.message)}\n`);
    return error.exitCode;
  }
  if (error instanceof UserError) {
    // An empty message: the command already reported (e.g. inside its --json document).
    if (error.message) stderr.write(`${colorize('Error:', stderr)} ${redact(error.message)}\n`);
    if (error.hint) stderr.write(`${redact(error.hint)}\n`);
    if (debug && error.cause instanceof Error && error.cause.stack) stderr.write(`${redact(error.cause.stack)}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  stderr.write(`${colorize('Error:', stderr)} Something unexpected went wrong: ${redact(message ?? '')}\n`);
  if (debug && error instanceof Error && error.stack) stderr.write(`${redact(error.stack)}\n`);
  else stderr.write('Run again with --debug for details, and report it if it persists.\n');
  return ExitCode.failure;
}

export function colorize(text: string, stderr: NodeJS.WritableStream): string {
  const off = process.env.NO_COLOR || process.argv.includes('--no-color') || !(stderr as { isTTY?: boolean }).isTTY;
  return off ? text : `\u001b[31m${text}\u001b[39m`;
}


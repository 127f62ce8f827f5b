/**
 * Input from the user. Prompts only on a TTY (clig.dev): without one, the
 * caller fails naming the flag to pass instead. Reading a piped stdin is fine
 * where the flag says so (`--with-key`, the one-time code).
 */
import type { PromptObject } from 'prompts';
import type { Context } from '../context.js';
import { ExitCode, UserError } from './errors.js';

/** Reads all of stdin (bounded), for `--with-key`. */
export async function readStdin(ctx: Context, limitBytes = 16 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.io.stdin as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > limitBytes) throw new UserError(`stdin is too large (over ${limitBytes} bytes); expected one credential.`, { exitCode: ExitCode.usage });
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from stdin (TTY or pipe); rejects on end of input, timeout or abort. */
export async function readLine(
  ctx: Context,
  question: string,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<string> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stdinIsTTY ? ctx.io.stderr : undefined, terminal: ctx.io.stdinIsTTY });
  if (!ctx.io.stdinIsTTY) ctx.io.stderr.write(question);
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const end = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      rl.close();
      fn();
    };
    const timer = options.timeoutMs
      ? setTimeout(() => end(() => reject(new UserError('Timed out waiting for input; nothing was stored.'))), options.timeoutMs)
      : undefined;
    const onAbort = () => end(() => reject(new UserError('Cancelled; nothing was stored.', { exitCode: 130 })));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // On a terminal readline takes Ctrl+C itself (raw mode): treat it as cancel, not a pause.
    rl.once('SIGINT', onAbort);
    rl.once('line', (line) => end(() => resolve(line)));
    rl.once('close', () => end(() => reject(new UserError('Input ended before a line was entered; nothing was stored.'))));
    if (ctx.io.stdinIsTTY) rl.setPrompt(question), rl.prompt();
  });
}

/**
 * The one way a question is put to a person: `prompts` (loaded only when
 * asking), drawn on stderr and answered on the context's stdin, which is
 * also how tests answer it (keystrokes on `ctx.io.stdin` with `stdinIsTTY`).
 * Resolves undefined when the person cancels (Ctrl+C, Ctrl+D, Esc).
 */
async function ask<T>(ctx: Context, question: Omit<PromptObject, 'name' | 'stdin' | 'stdout'>): Promise<T | undefined> {
  const { default: prompts } = await import('prompts');
  let cancelled = false;
  const answers = (await prompts(
    { ...question, name: 'answer', stdin: ctx.io.stdin, stdout: ctx.io.stderr },
    { onCancel: () => (cancelled = true) },
  )) as { answer?: T };
  return cancelled ? undefined : answers.answer;
}

/**
 * Yes/no on a terminal: true only for a yes, false for a no or a cancel.
 * Without a terminal it throws naming `flag`, the option that skips the question.
 */
export async function confirm(ctx: Context, question: string, flag: string, initial = false): Promise<boolean> {
  if (!ctx.io.stdinIsTTY) {
    throw new UserError(`${question.replace(/\?$/, '')}: cannot ask without a terminal.`, {
      exitCode: ExitCode.usage,
      hint: `Pass ${flag} to go ahead without asking.`,
    });
  }
  return (await ask<boolean>(ctx, { type: 'confirm', message: question, initial })) === true;
}

/** A line of text on a terminal, checked as it is typed (`validate` returns true or the problem); undefined when cancelled. */
export function askText(ctx: Context, question: { message: string; initial?: string; validate?: (value: string) => true | string }) {
  return ask<string>(ctx, { type: 'text', ...question });
}

/** One of `choices` on a terminal (arrow keys, Enter); undefined when cancelled. */
export function askChoice<T>(ctx: Context, question: { message: string; choices: { title: string; value: T }[]; initial?: number }) {
  return ask<T>(ctx, { type: 'select', ...question });
}

/**
 * Input from the user. Prompts only on a TTY (clig.dev): without one, the
 * caller fails naming the flag to pass instead. Reading a piped stdin is fine
 * where the flag says so (`--with-key`, the one-time code).
 */
import type { PromptObject } from 'prompts';
import type { Context } from '../context.js';
import { ExitCode, UserError, WaitEnded } from './errors.js';

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

/** Lines from stdin, one question after another (the one-time code, asked again after a typo). */
export interface LineReader {
  /** Asks and resolves with the next line; rejects with WaitEnded. */
  ask(question: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<string>;
  close(): void;
}

/**
 * Lines from stdin (TTY or pipe), several questions in a row: one readline
 * interface for all of them, so lines typed or piped ahead are not lost.
 */
export async function openLineReader(ctx: Context): Promise<LineReader> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stdinIsTTY ? ctx.io.stderr : undefined, terminal: ctx.io.stdinIsTTY });
  const lines: string[] = [];
  let closed = false;
  let waiter: ((event: { line?: string; end?: WaitEnded['reason'] }) => void) | undefined;
  rl.on('line', (line) => (waiter ? waiter({ line }) : lines.push(line)));
  rl.on('close', () => ((closed = true), waiter?.({ end: 'ended' })));
  // On a terminal readline takes Ctrl+C itself (raw mode): treat it as cancel, not a pause.
  rl.on('SIGINT', () => waiter?.({ end: 'cancelled' }));
  return {
    ask(question, options = {}) {
      if (ctx.io.stdinIsTTY) rl.setPrompt(question), rl.prompt();
      else ctx.io.stderr.write(question);
      const queued = lines.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (closed) return Promise.reject(new WaitEnded('ended'));
      return new Promise<string>((resolve, reject) => {
        const onAbort = () => finish({ end: 'cancelled' });
        const timer = options.timeoutMs !== undefined ? setTimeout(() => finish({ end: 'timeout' }), Math.max(0, options.timeoutMs)) : undefined;
        const finish = (event: { line?: string; end?: WaitEnded['reason'] }) => {
          waiter = undefined;
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          if (event.end) reject(new WaitEnded(event.end));
          else resolve(event.line ?? '');
        };
        waiter = finish;
        options.signal?.addEventListener('abort', onAbort, { once: true });
        if (options.signal?.aborted) onAbort();
      });
    },
    close: () => rl.close(),
  };
}

/**
 * The one way a question is put to a person: `prompts` (loaded only when
 * asking), drawn on stderr and answered on the context's stdin, which is
 * also how tests answer it (keystrokes on `ctx.io.stdin` with `stdinIsTTY`).
 * Resolves undefined when the person cancels (Ctrl+C, Ctrl+D, Esc).
 */
async function ask<T>(ctx: Context, question: Omit<PromptObject, 'name' | 'stdin' | 'stdout'>): Promise<T | undefined> {
  const prompts = await loadPrompts();
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

/**
 * The prompts library, drawing its answered/aborted marks with the glyphs
 * every other line uses (✓ ✗) instead of its own (✔ ✖). Its styles read the
 * glyphs once, when it loads, so they are set before it is imported.
 */
async function loadPrompts(): Promise<typeof import('prompts')> {
  const { default: figures } = await import('prompts/lib/util/figures.js');
  figures.tick = '✓';
  figures.cross = '✗';
  const { default: prompts } = await import('prompts');
  return prompts;
}

/**
 * Presentation shared by every command: colours (off with --no-color,
 * NO_COLOR or a non-TTY stdout), messages on stderr, data on stdout, --json,
 * a spinner on stderr (only when stderr is a TTY), tables that turn into
 * cards on narrow terminals, and relative times.
 */
import kleur from 'kleur';
import type { Context } from '../context.js';

kleur.enabled = true; // we decide per call, from the context

type Paint = (text: string) => string;
export interface Colors {
  enabled: boolean;
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
  magenta: Paint;
}

export function colors(enabled: boolean): Colors {
  const wrap = (fn: Paint): Paint => (text) => (enabled ? fn(text) : text);
  return {
    enabled,
    bold: wrap((t) => kleur.bold(t)),
    dim: wrap((t) => kleur.dim(t)),
    red: wrap((t) => kleur.red(t)),
    green: wrap((t) => kleur.green(t)),
    yellow: wrap((t) => kleur.yellow(t)),
    cyan: wrap((t) => kleur.cyan(t)),
    magenta: wrap((t) => kleur.magenta(t)),
  };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
export const stripAnsi = (text: string) => text.replace(ANSI, '');
export const visibleWidth = (text: string) => [...stripAnsi(text)].length;

export interface Spinner {
  update(text: string): void;
  /** Prints a message line (a warning with "!") above the spinner, which keeps spinning below it. */
  note(text: string, kind?: 'info' | 'warn'): void;
  stop(): void;
  succeed(text: string): void;
  fail(text: string): void;
}

export interface Output {
  c: Colors;
  /** Data: stdout. */
  out(text?: string): void;
  /** Messages: stderr. */
  info(text?: string): void;
  success(text: string): void;
  warn(text: string): void;
  /** A suggested next command. */
  next(text: string): void;
  json(data: unknown): void;
  spinner(text: string): Spinner;
  table(rows: string[][], headers: string[]): string;
}

export function createOutput(ctx: Pick<Context, 'io' | 'globals'>): Output {
  // Messages go to stderr, so colour them when stderr is a terminal.
  const c = colors(ctx.globals.color);
  const m = colors(ctx.globals.color || (ctx.io.stderrIsTTY && ctx.globals.colorAllowed !== false && ctx.globals.colorAllowed !== undefined));
  const writeOut = (text: string) => ctx.io.stdout.write(`${text}\n`);
  const writeErr = (text: string) => ctx.io.stderr.write(`${text}\n`);
  return {
    c,
    out: (text = '') => writeOut(text),
    info: (text = '') => writeErr(text),
    success: (text) => writeErr(`${m.green('✓')} ${text}`),
    warn: (text) => writeErr(`${m.yellow('!')} ${text}`),
    next: (text) => writeErr(`${m.dim('Next:')} ${text}`),
    json: (data) => writeOut(JSON.stringify(data, null, 2)),
    spinner: (text) => createSpinner(ctx, m, text),
    table: (rows, headers) => renderTable(rows, headers.map((h) => c.bold(h))),
  };
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function createSpinner(ctx: Pick<Context, 'io' | 'globals'>, m: Colors, initial: string): Spinner {
  let text = initial;
  const live = ctx.io.stderrIsTTY && !ctx.globals.debug;
  const stream = ctx.io.stderr;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = () => stream.write(`\r\u001b[2K${m.cyan(FRAMES[frame++ % FRAMES.length] ?? '')} ${text}`);
  const clear = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    if (live) stream.write('\r\u001b[2K');
  };
  if (live) {
    draw();
    timer = setInterval(draw, 80);
    timer.unref();
  } else {
    stream.write(`${text}\n`);
  }
  return {
    update(next) {
      text = next;
      if (!live) stream.write(`${text}\n`);
    },
    note(message, kind = 'info') {
      const line = kind === 'warn' ? `${m.yellow('!')} ${message}` : message;
      if (live && timer) {
        stream.write(`\r\u001b[2K${line}\n`);
        draw();
      } else {
        stream.write(`${line}\n`);
      }
    },
    stop: clear,
    succeed(done) {
      clear();
      stream.write(`${m.green('✓')} ${done}\n`);
    },
    fail(done) {
      clear();
      stream.write(`${m.red('✗')} ${done}\n`);
    },
  };
}

export function renderTable(rows: string[][], headers: string[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => visibleWidth(r[i] ?? ''))));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleWidth(cell))))
      .join('  ')
      .trimEnd();
  return all.map(line).join('\n');
}

/** Width a table needs, to choose between a table and cards. */
export function tableWidth(rows: string[][], headers: string[]): number {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => visibleWidth(r[i] ?? ''))));
  return widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1);
}

/** One block per record: "Label  value" lines, blank line between records. */
export function renderCards(records: Array<Array<[string, string]>>, c: Colors): string {
  return records
    .map((fields) => {
      const width = Math.max(...fields.map(([label]) => visibleWidth(label)));
      return fields.map(([label, value]) => `${c.dim(label.padEnd(width))}  ${value}`).join('\n');
    })
    .join('\n\n');
}

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];

/** "in 12 days", "3 days ago", "just now"; days up to 60 so expiries read in days. */
export function relativeTime(when: Date | string, now: Date): string {
  const date = typeof when === 'string' ? new Date(when) : when;
  const diff = date.getTime() - now.getTime();
  const abs = Math.abs(diff);
  if (Number.isNaN(diff)) return 'unknown';
  if (abs < 60_000) return 'just now';
  for (const [unit, size] of UNITS) {
    if (unit === 'year' && abs < 2 * 365 * 86_400_000) continue;
    if (unit === 'month' && abs < 60 * 86_400_000) continue;
    if (abs >= size) {
      const n = Math.round(abs / size);
      const label = `${n} ${unit}${n === 1 ? '' : 's'}`;
      return diff > 0 ? `in ${label}` : `${label} ago`;
    }
  }
  return 'just now';
}

/** Days left until `when`, rounded up (90 for a key minted just now); negative when past. */
export function daysUntil(when: Date | string, now: Date): number {
  const date = typeof when === 'string' ? new Date(when) : when;
  return Math.ceil((date.getTime() - now.getTime()) / 86_400_000) || 0;
}

/** 2026-11-23 */
export const isoDate = (when: Date | string) => (typeof when === 'string' ? new Date(when) : when).toISOString().slice(0, 10);

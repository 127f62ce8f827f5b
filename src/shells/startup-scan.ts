/**
 * Reading a shell's start-up files in the order it runs them, for what can
 * undo the block: a line that sets (or unsets) ANTHROPIC_API_KEY or
 * ANTHROPIC_BASE_URL after it runs, and a `return`, `exit` or `exec` that
 * stops the reading before it. The real shell is the judge (verify.ts);
 * this names the file and line when it disagrees, and warns about what the
 * check cannot see (a `return` that only happens on some machines). Pure.
 */
import { readable, type ByteText } from '../files/byte-text.js';
import { findBlocks, type BlockLocation } from '../files/marked-block.js';
import { AUTH_TOKEN_VAR } from './types.js';
import type { ProfileShell, ShellLayout, StartMode } from './types.js';

export type FindingKind =
  /** Sets or unsets one of our variables after the block has run. */
  | 'override'
  /** Sets one of our variables before the block: the block wins, but it confuses. */
  | 'earlier'
  /** Stops reading the file (or replaces the shell) before the block. */
  | 'stops'
  /** Sets ANTHROPIC_AUTH_TOKEN, which Claude Code may send instead of the key. */
  | 'auth-token'
  /** Defines `claude` (or another wrapped command) as an alias or function after the block: it hides --via-run's function. */
  | 'command';

export interface Finding {
  kind: FindingKind;
  file: string;
  line: number;
  /** The variable set, for override/earlier/auth-token. */
  variable?: string;
  /** For `stops`: the line itself, cut short (no variable values are ever quoted). */
  code?: string;
  /** For `stops`: what it does (return, exit, exec zsh). */
  does?: string;
  /** For `stops`: a block had already run when the line is reached (the variables are set by then). */
  afterBlock?: boolean;
  /** For `override`: it unsets rather than sets. */
  unsets?: boolean;
  /** The start modes it affects. */
  modes: StartMode[];
}

interface ScannedLine {
  line: number;
  text: string;
  inFunction: boolean;
  /** Under a test for an interactive shell: only a non-interactive shell gets here. */
  nonInteractiveOnly: boolean;
}

interface ScannedFile {
  block?: BlockLocation;
  lines: ScannedLine[];
}

function scanFile(shell: ProfileShell, view: ByteText): ScannedFile {
  let block: BlockLocation | undefined;
  try {
    block = findBlocks(view.text)[0];
  } catch {
    block = undefined; // a damaged block is reported by the edit itself
  }
  const inFunction = shell.functionTracker();
  const lines: ScannedLine[] = [];
  let guardIndent: number | undefined;
  let n = 0;
  for (const raw of view.text.split('\n')) {
    n++;
    const text = readable(raw.replace(/\r$/, ''), view.encoding);
    const indent = /^\s*/.exec(text)![0].length;
    const closes = /^\s*(fi|esac|end|done)\b/.test(text);
    if (guardIndent !== undefined && closes && indent <= guardIndent) {
      guardIndent = undefined;
      lines.push({ line: n, text, inFunction: inFunction(text), nonInteractiveOnly: false });
      continue;
    }
    const tests = shell.testsInteractive(text);
    // A test that opens a block (if … then, case $- in) guards the lines up to its end.
    if (tests && guardIndent === undefined && !/\b(fi|esac|end)\s*$/.test(text) && /^\s*(if|case|switch)\b/.test(text)) guardIndent = indent;
    lines.push({ line: n, text, inFunction: inFunction(text), nonInteractiveOnly: tests || guardIndent !== undefined });
  }
  return { block, lines };
}

/**
 * A line that makes a wrapped command an alias or function, in any of the shells' syntaxes:
 * `alias claude=…`, `alias claude '…'` (fish), `claude() {`, `function claude`, `Set-Alias claude`.
 * Where a command can start: the line's beginning (indented too, as inside an `if`), or after
 * `;`, `&&`, `||`, `{`, `then`, `else`, `do`. `claude-dev` or `claudette` is another command.
 */
const LEAD = String.raw`(?:^|[;&|{]|\b(?:then|else|do)\b)\s*`;
const NAME = String.raw`(claude|opencode)(?![\w.-])`;
// `alias -g claude=…`, `alias ll='ls -l' claude=…`: options and other definitions before ours.
const ALIAS = String.raw`alias(?:\s+-\S+)*\s+(?:[^\s=]+=(?:'[^']*'|"[^"]*"|\S*)\s+)*(claude|opencode)(?:=|\s)`;
const FUNCTION = String.raw`function\s+(?:(?:global|script):)?${NAME}`;
const POSIX_FUNCTION = String.raw`${NAME}\s*\(\s*\)`;
// PowerShell: -Name, or the first positional argument after any other named parameters.
const PS_ALIAS = String.raw`(?:set|new)-alias(?:\s+-(?!name\b)\w+(?:\s+[^-\s]\S*)?)*\s+(?:-name\s+)?${NAME}`;
const DEFINES = new RegExp(`${LEAD}(?:${ALIAS}|${FUNCTION}|${POSIX_FUNCTION}|${PS_ALIAS})`, 'i');

export function definesCommand(line: string): string | undefined {
  if (/^\s*#/.test(line)) return undefined;
  const m = DEFINES.exec(line);
  return (m?.[1] ?? m?.[2] ?? m?.[3] ?? m?.[4])?.toLowerCase();
}

const UNSET = /\bunset\b|\bset\s+(?:-[A-Za-z]*e[A-Za-z]*|--erase)\b/;

const cut = (text: string) => {
  const t = text.trim();
  return t.length > 60 ? `${t.slice(0, 57)}…` : t;
};

/**
 * What runs around the block in each start mode. `texts` holds each file's
 * bytes as they are (or will be) on disk; a file missing from it is not there.
 */
export function scanStartup(shell: ProfileShell, layout: ShellLayout, texts: Map<string, ByteText | undefined>): Finding[] {
  const scanned = new Map<string, ScannedFile>();
  for (const file of layout.files) {
    const view = texts.get(file.path);
    if (view) scanned.set(file.path, scanFile(shell, view));
  }
  const findings = new Map<string, Finding>();
  const add = (finding: Omit<Finding, 'modes'>, mode: StartMode) => {
    const key = `${finding.kind}:${finding.file}:${finding.line}:${finding.variable ?? ''}`;
    const found = findings.get(key);
    if (found) {
      if (!found.modes.includes(mode)) found.modes.push(mode);
    } else findings.set(key, { ...finding, modes: [mode] });
  };

  for (const mode of Object.keys(shell.startArgs) as StartMode[]) {
    const interactive = mode !== 'login';
    const sequence = layout.files.filter((f) => f.modes.includes(mode) && scanned.has(f.path));
    const lastWithBlock = sequence.map((f) => scanned.get(f.path)!.block !== undefined).lastIndexOf(true);
    let blockRan = false;
    sequence.forEach((file, index) => {
      const { block, lines } = scanned.get(file.path)!;
      for (const l of lines) {
        if (block && l.line >= block.startLine && l.line <= block.endLine) continue;
        const afterBlock = blockRan || (block !== undefined && l.line > block.endLine);
        // After the last block nothing of ours runs again: a line there wins; before it, the block does.
        const afterLast = index > lastWithBlock || (index === lastWithBlock && block !== undefined && l.line > block.endLine);
        const variable = shell.setsVariable(l.text);
        if (variable === AUTH_TOKEN_VAR) add({ kind: 'auth-token', file: file.path, line: l.line, variable }, mode);
        else if (variable && afterBlock && afterLast) add({ kind: 'override', file: file.path, line: l.line, variable, unsets: UNSET.test(l.text) }, mode);
        else if (variable && !afterLast) add({ kind: 'earlier', file: file.path, line: l.line, variable }, mode);
        const defined = afterLast ? definesCommand(l.text) : undefined;
        if (defined) add({ kind: 'command', file: file.path, line: l.line, variable: defined }, mode);
        if (l.inFunction || (interactive && l.nonInteractiveOnly)) continue;
        const does = shell.stopsReading(l.text);
        // `return` ends this file only: it matters before this file's block. exit and exec end the shell.
        const matters = does === 'return' ? block !== undefined && l.line < block.startLine : does !== undefined;
        if (matters) add({ kind: 'stops', file: file.path, line: l.line, code: cut(l.text), does, afterBlock }, mode);
      }
      if (block) blockRan = true;
    });
  }
  return [...findings.values()];
}

/** Start-up files that are FIFOs, with the modes that read them (those shells would wait forever). */
export async function fifosIn(layout: ShellLayout, kindOf: (file: string) => Promise<string | undefined>): Promise<Array<{ file: string; modes: StartMode[] }>> {
  const out: Array<{ file: string; modes: StartMode[] }> = [];
  for (const file of layout.files) if ((await kindOf(file.path)) === 'fifo') out.push({ file: file.path, modes: file.modes });
  return out;
}

/** For each start mode that reads no file holding a block: the files it does read (for "has no thirdloop block"). */
export function modesWithoutBlock(shell: ProfileShell, layout: ShellLayout, texts: Map<string, ByteText | undefined>): Partial<Record<StartMode, string[]>> {
  const out: Partial<Record<StartMode, string[]>> = {};
  const hasBlock = (file: string) => {
    const view = texts.get(file);
    try {
      return view !== undefined && findBlocks(view.text).length > 0;
    } catch {
      return true; // a damaged block is another problem, named elsewhere
    }
  };
  for (const mode of Object.keys(shell.startArgs) as StartMode[]) {
    const read = layout.files.filter((f) => f.modes.includes(mode) && texts.get(f.path) !== undefined).map((f) => f.path);
    if (!read.some(hasBlock)) out[mode] = read.length ? read : layout.files.filter((f) => f.modes.includes(mode) && f.target).map((f) => f.path);
  }
  return out;
}

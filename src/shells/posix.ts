/**
 * What bash and zsh share: the POSIX syntax of env.sh and of the block,
 * and how to read their start-up files for the lines that matter.
 */
import { ENV_FILE_HEADER, RUN_FILE_HEADER, checkValue, runWords, underHome } from './common.js';
import { shPrintCommand } from './probe-command.js';
import { API_KEY_VAR, BASE_URL_VAR, BLOCK_COMMENT, WATCHED_VAR_PATTERN } from './types.js';
import type { EnvValues, RunValues, ShellEnv } from './types.js';

/** POSIX single quotes: everything literal; a quote becomes '\''. */
export const posixQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/**
 * A Windows path as Git Bash (MSYS2) names it: C:\Users\ada → /c/Users/ada,
 * \\server\share\x → //server/share/x; a POSIX path stays as it is.
 */
export function gitBashPath(file: string): string {
  const drive = /^([A-Za-z]):[\\/]*(.*)$/.exec(file);
  if (drive) return `/${drive[1]!.toLowerCase()}/${drive[2]!.replace(/[\\/]+/g, '/')}`.replace(/\/$/, '');
  if (/^[\\/]{2}[^\\/]/.test(file)) return `//${file.slice(2).replace(/[\\/]+/g, '/')}`;
  return file.replace(/\\/g, '/');
}

/** A path for a POSIX-shell source line: "$HOME/…" when possible, else single-quoted (Git Bash: its POSIX form). */
export function posixPath(file: string, e: ShellEnv): string {
  const rel = underHome(file, e);
  if (e.platform === 'win32') {
    // Git Bash's $HOME is the Windows home (%HOME%, else %USERPROFILE%), as thirdloop's is.
    return rel !== undefined && /^[A-Za-z0-9._\\/ -]+$/.test(rel) ? `"$HOME/${rel.replace(/\\/g, '/')}"` : posixQuote(gitBashPath(file));
  }
  return rel !== undefined ? `"$HOME/${rel}"` : posixQuote(file);
}

/** env.sh, shared by bash and zsh (and sh, which reads ~/.profile). Sourcing it twice changes nothing. */
export function posixEnvFile(values: EnvValues): string {
  return [
    ...ENV_FILE_HEADER.map((line) => `# ${line}`),
    `export ${BASE_URL_VAR}=${posixQuote(checkValue(BASE_URL_VAR, values.apiUrl))}`,
    `export ${API_KEY_VAR}=${posixQuote(checkValue(API_KEY_VAR, values.credential))}`,
    '',
  ].join('\n');
}

export function posixSourceBlock(envFile: string, e: ShellEnv, comment = BLOCK_COMMENT): string[] {
  const quoted = posixPath(envFile, e);
  return [comment, `if [ -f ${quoted} ]; then . ${quoted}; fi`];
}

/**
 * run.sh, shared by bash and zsh (and sh, which reads ~/.profile): a function per command. An alias
 * of the same name (Claude Code's old local install made one) would win over the function, so it
 * goes first; `name() { …; }` is the one form sh, bash and zsh all read.
 */
export function posixRunFile(values: RunValues): string {
  const words = runWords(values, posixQuote, 'command thirdloop');
  return [
    ...RUN_FILE_HEADER.map((line) => `# ${line}`),
    ...values.commands.flatMap((command) => [`unalias ${command} 2>/dev/null || :`, `${command}() { ${words} -- ${command} "$@"; }`]),
    '',
  ].join('\n');
}

/** bash and zsh: the key as a program started from here would see it, then `claude` as typed, with the stand-in first on PATH. */
export const posixRunProbe = (mark: string, standInDir: string): string =>
  `${shPrintCommand(mark)}; PATH=${posixQuote(standInDir)}:"$PATH"; export PATH; claude ${mark}S 'a b'`;

/** Where a command can start on a line: its beginning, or after `&&`, `||`, `;`, `then`, `else`, `do`, `{`. */
const LEAD = String.raw`(?:^|&&|\|\||;|\bthen\b|\belse\b|\bdo\b|\{)\s*`;

const assignment = new RegExp(`${LEAD}(?:export\\s+|(?:declare|typeset|local|readonly)\\s+(?:-[A-Za-z]+\\s+)*)?${WATCHED_VAR_PATTERN}=`);
const unset = new RegExp(`${LEAD}unset\\s+(?:-v\\s+)?(?:[A-Za-z_][A-Za-z0-9_]*\\s+)*${WATCHED_VAR_PATTERN}\\b`);

export function posixSetsVariable(line: string): string | undefined {
  if (/^\s*#/.test(line)) return undefined;
  return assignment.exec(line)?.[1] ?? unset.exec(line)?.[1];
}

const stop = new RegExp(`${LEAD}(return|exit|logout)(?=\\s|;|\\)|$)`);
// `exec cmd` replaces the shell; `exec 2>/dev/null` or `exec >file` only redirects.
const exec = new RegExp(`${LEAD}exec(?:\\s+-[acl]+(?:\\s+[^-\\s]\\S*)?)*\\s+(?![0-9]*[<>&])([^\\s;&|<>]+)`);

export function posixStopsReading(line: string): string | undefined {
  if (/^\s*#/.test(line)) return undefined;
  const e = exec.exec(line);
  if (e) return `exec ${e[1]}`;
  return stop.exec(line)?.[1];
}

export const posixTestsInteractive = (line: string) =>
  /\$-|\$\{-\}|\bPS1\b|-t\s+[012]\b|-o\s+interactive\b|\binteractive\b/.test(line);

/**
 * Function bodies, roughly: `{` and `}` counted outside quotes, `${…}` and
 * comments. Good enough to tell a `return` that ends a function from one
 * that ends the file.
 */
export function posixFunctionTracker(): (line: string) => boolean {
  let inFunction = 0;
  let pending = false; // `name()` on one line, `{` on the next
  return (line: string) => {
    const code = line
      .replace(/\$\{[^}]*\}/g, '')
      .replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, '')
      .replace(/(^|\s)#.*$/, '');
    const opensFunction = pending || /^\s*(?:function\s+[^\s(]+|[A-Za-z_][\w:.-]*\s*\(\s*\))/.test(code);
    const before = inFunction > 0;
    let braces = false;
    for (const match of code.matchAll(/(^|[\s;)])([{}])(?=$|[\s;])/g)) {
      braces = true;
      if (match[2] === '{') {
        if (opensFunction || inFunction > 0) inFunction++;
      } else if (inFunction > 0) {
        inFunction--;
      }
    }
    pending = opensFunction && !braces && code.trim() !== '' ? true : pending && code.trim() === '';
    return before || inFunction > 0;
  };
}

/**
 * What bash and zsh share: the POSIX syntax of env.sh and of the block,
 * and how to read their start-up files for the lines that matter.
 */
import { ENV_FILE_HEADER, checkValue, underHome } from './common.js';
import { API_KEY_VAR, BASE_URL_VAR, BLOCK_COMMENT, WATCHED_VAR_PATTERN } from './types.js';
import type { EnvValues, ShellEnv } from './types.js';

/** POSIX single quotes: everything literal; a quote becomes '\''. */
export const posixQuote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

/** A path for a POSIX-shell source line: "$HOME/…" when possible, else single-quoted. */
export function posixPath(file: string, e: ShellEnv): string {
  const rel = underHome(file, e);
  return rel !== undefined && e.platform !== 'win32' ? `"$HOME/${rel}"` : posixQuote(file);
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

export function posixSourceBlock(envFile: string, e: ShellEnv): string[] {
  const quoted = posixPath(envFile, e);
  return [BLOCK_COMMENT, `if [ -f ${quoted} ]; then . ${quoted}; fi`];
}

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

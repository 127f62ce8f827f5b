/**
 * Claude Code's user settings (~/.claude/settings.json, or
 * $CLAUDE_CONFIG_DIR/settings.json) for `setup claude --key-helper`:
 * `apiKeyHelper` runs `thirdloop token`, so the key stays in the keychain,
 * and `env.ANTHROPIC_BASE_URL` points at the instance.
 *
 * Users keep comments in this file (it is read as JSONC), so it is edited
 * in place with jsonc-parser: other keys, comments, order and indentation
 * stay as they were. Pure, except for where the file is.
 */
import path from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { detectFormat, setJsoncValue } from '../files/jsonc-edit.js';
import { UserError } from '../core/errors.js';
import { posixQuote } from '../shells/bash.js';
import type { ShellEnv } from '../shells/types.js';

export const BASE_URL_KEY = 'ANTHROPIC_BASE_URL';

export function claudeSettingsPath(e: ShellEnv): string {
  const p = e.platform === 'win32' ? path.win32 : path.posix;
  const dir = e.env.CLAUDE_CONFIG_DIR?.trim();
  return p.join(dir && p.isAbsolute(dir) ? dir : p.join(e.homedir, '.claude'), 'settings.json');
}

export interface KeyHelperCommandInput {
  /** The Node binary running us (process.execPath). */
  nodePath: string;
  /** The CLI's bin script, absolute. */
  scriptPath: string;
  /** Non-default profiles are passed on, so the helper prints the right key. */
  profile: string;
  platform: NodeJS.Platform;
}

/** The command Claude Code runs (through a shell) to get the key. */
export function keyHelperCommand(input: KeyHelperCommandInput): string {
  // Claude Code runs the helper with /bin/sh on Unix and cmd on Windows.
  const quote = input.platform === 'win32' ? (s: string) => `"${s.replaceAll('"', '""')}"` : posixQuote;
  const parts = [quote(input.nodePath), quote(input.scriptPath), 'token'];
  if (input.profile !== 'default') parts.push('--profile', quote(input.profile));
  return parts.join(' ');
}

/** What was there before our edit, kept (non-secret) in the config so --undo can put it back. */
export interface ClaudeSettingsRecord {
  path: string;
  apiKeyHelper: string;
  baseUrl: string;
  previousApiKeyHelper?: unknown;
  previousBaseUrl?: unknown;
  createdEnv: boolean;
  createdFile: boolean;
}

export interface MergeResult {
  text: string;
  previousApiKeyHelper?: unknown;
  previousBaseUrl?: unknown;
  createdEnv: boolean;
  warnings: string[];
}

type Json = Record<string, unknown>;

/** Parses settings text; a broken file is refused with the line and column. */
export function parseSettings(text: string, file: string): Json {
  const errors: ParseError[] = [];
  const body = stripBom(text);
  if (body.trim() === '') return {};
  const value = parse(body, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: true });
  if (errors.length > 0) {
    const first = errors[0]!;
    const { line, column } = position(body, first.offset);
    throw new UserError(
      `Cannot read ${file}: ${describeParseError(printParseErrorCode(first.error))} at line ${line}, column ${column}. Nothing was changed.`,
      { hint: 'Fix the file (or move it away) and run the command again.' },
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError(`Cannot edit ${file}: it does not hold a JSON object. Nothing was changed.`);
  }
  return value as Json;
}

const describeParseError = (code: string) =>
  code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();

function position(text: string, offset: number) {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - (before.lastIndexOf('\n') + 1) + 1;
  return { line, column };
}

const stripBom = (text: string) => (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);

/**
 * A local, textual edit (files/jsonc-edit): a new key goes after the last
 * one in the object's own style, a replaced value keeps its place, and
 * nothing else is re-flowed, so --undo gives back the same bytes.
 */
function edit(text: string, jsonPath: string[], value: unknown): string {
  const bom = text.charCodeAt(0) === 0xfeff ? '\ufeff' : '';
  return setJsoncValue(text, jsonPath, value, detectFormat(bom ? text.slice(1) : text));
}

/** Adds apiKeyHelper and env.ANTHROPIC_BASE_URL to the settings text (undefined: no file yet). */
export function mergeClaudeSettings(
  text: string | undefined,
  values: { apiKeyHelper: string; baseUrl: string },
  file = 'settings.json',
): MergeResult {
  const base = text === undefined || stripBom(text).trim() === '' ? `${text ?? ''}{}\n` : text;
  const current = parseSettings(base, file);
  const env = current.env;
  const envIsObject = env !== null && typeof env === 'object' && !Array.isArray(env);
  if (env !== undefined && !envIsObject) {
    throw new UserError(`Cannot edit ${file}: its "env" is not an object. Nothing was changed.`);
  }
  const envObject = (envIsObject ? env : {}) as Json;
  const warnings: string[] = [];
  for (const name of ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN']) {
    if (name in envObject) {
      warnings.push(`${file} also sets env.${name}, which Claude Code may use instead of apiKeyHelper: remove it to use Third Loop.`);
    }
  }
  let out = edit(base, ['apiKeyHelper'], values.apiKeyHelper);
  out = envIsObject ? edit(out, ['env', BASE_URL_KEY], values.baseUrl) : edit(out, ['env'], { [BASE_URL_KEY]: values.baseUrl });
  return {
    text: out,
    previousApiKeyHelper: current.apiKeyHelper,
    previousBaseUrl: envObject[BASE_URL_KEY],
    createdEnv: !envIsObject,
    warnings,
  };
}

/**
 * Takes our two settings back out, restoring what was there before. A value
 * the user has changed since is theirs now and is left alone. Returns
 * undefined when the file should be deleted (we created it and it is empty again).
 */
export function unmergeClaudeSettings(text: string, record: ClaudeSettingsRecord, file = 'settings.json'): string | undefined {
  const current = parseSettings(text, file);
  let out = text;
  if (current.apiKeyHelper === record.apiKeyHelper) {
    out = edit(out, ['apiKeyHelper'], record.previousApiKeyHelper);
  }
  const env = current.env as Json | undefined;
  if (env && typeof env === 'object' && env[BASE_URL_KEY] === record.baseUrl) {
    const remaining = Object.keys(env).filter((key) => key !== BASE_URL_KEY);
    if (record.createdEnv && remaining.length === 0 && record.previousBaseUrl === undefined) out = edit(out, ['env'], undefined);
    else out = edit(out, ['env', BASE_URL_KEY], record.previousBaseUrl);
  }
  if (record.createdFile && Object.keys(parseSettings(out, file)).length === 0) return undefined;
  return out;
}

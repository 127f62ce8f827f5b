import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'jsonc-parser';
import { describe, expect, it } from 'vitest';
import {
  claudeSettingsPath,
  keyHelperCommand,
  mergeClaudeSettings,
  parseSettings,
  unmergeClaudeSettings,
  type ClaudeSettingsRecord,
} from '../../src/clients/claude.js';
import { corpusFiles } from '../helpers/corpus.js';

const values = { apiKeyHelper: "'/usr/bin/node' '/opt/thirdloop/bin/thirdloop.js' token", baseUrl: 'https://tl.example.com' };
const jsonc = (text: string) => parse(text.replace(/^\ufeff/, ''), [], { allowTrailingComma: true });

function recordFor(text: string | undefined): ClaudeSettingsRecord {
  const merged = mergeClaudeSettings(text, values);
  return {
    path: 'settings.json',
    ...values,
    previousApiKeyHelper: merged.previousApiKeyHelper,
    previousBaseUrl: merged.previousBaseUrl,
    createdEnv: merged.createdEnv,
    createdFile: text === undefined,
  };
}

describe('mergeClaudeSettings', () => {
  it('creates a settings file when there is none, and undo deletes it', () => {
    const merged = mergeClaudeSettings(undefined, values);
    expect(JSON.parse(merged.text)).toEqual({ apiKeyHelper: values.apiKeyHelper, env: { ANTHROPIC_BASE_URL: values.baseUrl } });
    expect(merged.createdEnv).toBe(true);
    expect(unmergeClaudeSettings(merged.text, recordFor(undefined))).toBeUndefined();
  });

  it('keeps comments, other keys and indentation', () => {
    const text = '{\n\t// my model\n\t"model": "opus",\n\t"env": {\n\t\t"FOO": "1" // why\n\t}\n}\n';
    const merged = mergeClaudeSettings(text, values);
    expect(merged.text).toContain('// my model');
    expect(merged.text).toContain('"FOO": "1", // why\n\t\t"ANTHROPIC_BASE_URL"');
    expect(merged.text).toContain('\t\t"ANTHROPIC_BASE_URL": "https://tl.example.com"');
    expect(jsonc(merged.text)).toEqual({ model: 'opus', env: { FOO: '1', ANTHROPIC_BASE_URL: values.baseUrl }, apiKeyHelper: values.apiKeyHelper });
    expect(unmergeClaudeSettings(merged.text, recordFor(text))).toBe(text);
  });

  it('replaces values and restores the previous ones on undo', () => {
    const text = '{\n  "apiKeyHelper": "~/bin/get-key.sh",\n  "env": { "ANTHROPIC_BASE_URL": "http://localhost:4000" }\n}\n';
    const merged = mergeClaudeSettings(text, values);
    expect(merged.previousApiKeyHelper).toBe('~/bin/get-key.sh');
    expect(jsonc(merged.text).env.ANTHROPIC_BASE_URL).toBe(values.baseUrl);
    expect(unmergeClaudeSettings(merged.text, recordFor(text))).toBe(text);
  });

  it('leaves values the user changed since alone', () => {
    const merged = mergeClaudeSettings('{}', values);
    const edited = merged.text.replace(values.baseUrl, 'http://mine');
    const undone = unmergeClaudeSettings(edited, recordFor('{}'))!;
    expect(jsonc(undone)).toEqual({ env: { ANTHROPIC_BASE_URL: 'http://mine' } });
  });

  it('warns about a key in env that competes with apiKeyHelper', () => {
    const merged = mergeClaudeSettings('{"env":{"ANTHROPIC_AUTH_TOKEN":"test"}}', values, '~/.claude/settings.json');
    expect(merged.warnings).toEqual([
      '~/.claude/settings.json also sets env.ANTHROPIC_AUTH_TOKEN, which Claude Code may use instead of apiKeyHelper: remove it to use Third Loop.',
    ]);
  });

  it('refuses broken JSON with line and column, and non-objects', () => {
    expect(() => parseSettings('{\n  "a": 1\n  "b": 2\n}', '~/.claude/settings.json')).toThrow(
      'Cannot read ~/.claude/settings.json: comma expected at line 3, column 3. Nothing was changed.',
    );
    expect(() => mergeClaudeSettings('[1]', values)).toThrow(/does not hold a JSON object/);
    expect(() => mergeClaudeSettings('{"env": "x"}', values)).toThrow(/"env" is not an object/);
  });

  it('keeps a BOM', () => {
    const merged = mergeClaudeSettings('\ufeff{\n  "a": 1\n}\n', values);
    expect(merged.text.startsWith('\ufeff{')).toBe(true);
    expect(jsonc(merged.text).a).toBe(1);
  });

  it('follows the file’s indentation and line endings', () => {
    const crlf = mergeClaudeSettings('{\r\n    "a": 1\r\n}\r\n', values).text;
    expect(crlf).toContain('\r\n    "apiKeyHelper": ');
    expect(crlf.replaceAll('\r\n', '')).not.toContain('\n');
    expect(mergeClaudeSettings('{\n\t"a": 1\n}\n', values).text).toContain('\n\t"env": {\n\t\t"ANTHROPIC_BASE_URL"');
  });
});

describe('where the settings are and what the helper runs', () => {
  it('~/.claude/settings.json, or CLAUDE_CONFIG_DIR', () => {
    expect(claudeSettingsPath({ platform: 'linux', homedir: '/home/ada', env: {} })).toBe('/home/ada/.claude/settings.json');
    expect(claudeSettingsPath({ platform: 'linux', homedir: '/home/ada', env: { CLAUDE_CONFIG_DIR: '/cfg/claude' } })).toBe('/cfg/claude/settings.json');
    expect(claudeSettingsPath({ platform: 'win32', homedir: 'C:\\Users\\ada', env: {} })).toBe('C:\\Users\\ada\\.claude\\settings.json');
  });
  it('quotes absolute paths for the shell Claude Code uses', () => {
    expect(keyHelperCommand({ nodePath: '/usr/bin/node', scriptPath: "/home/o'neil/bin/thirdloop.js", profile: 'default', platform: 'linux' })).toBe(
      `'/usr/bin/node' '/home/o'\\''neil/bin/thirdloop.js' token`,
    );
    expect(keyHelperCommand({ nodePath: 'C:\\Program Files\\nodejs\\node.exe', scriptPath: 'C:\\tl\\bin\\thirdloop.js', profile: 'work', platform: 'win32' })).toBe(
      '"C:\\Program Files\\nodejs\\node.exe" "C:\\tl\\bin\\thirdloop.js" token --profile "work"',
    );
  });
});

const claudeFiles = corpusFiles('claude');
describe.skipIf(claudeFiles.length === 0)('the real-world Claude settings corpus', () => {
  const files = claudeFiles;
  it.each(files.map((f) => [path.basename(f), f]))('%s: merge keeps everything, undo restores', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const before = jsonc(text);
    const merged = mergeClaudeSettings(text, values);
    const after = jsonc(merged.text);
    // Every other key is untouched; ours are set.
    const { apiKeyHelper: _a, env: envAfter, ...restAfter } = after;
    const { apiKeyHelper: _b, env: envBefore, ...restBefore } = before;
    expect(restAfter).toEqual(restBefore);
    expect(after.apiKeyHelper).toBe(values.apiKeyHelper);
    const { ANTHROPIC_BASE_URL: ours, ...otherEnv } = envAfter;
    expect(ours).toBe(values.baseUrl);
    const { ANTHROPIC_BASE_URL: _c, ...otherEnvBefore } = envBefore ?? {};
    expect(otherEnv).toEqual(otherEnvBefore);
    // Comments survive.
    for (const comment of text.match(/^\s*\/\/.*$/gm) ?? []) expect(merged.text).toContain(comment.trim());
    // Re-running is a no-op; undo gives back the same data, and the same bytes.
    expect(mergeClaudeSettings(merged.text, values).text).toBe(merged.text);
    const undone = unmergeClaudeSettings(merged.text, recordFor(text))!;
    expect(jsonc(undone)).toEqual(before);
    expect(undone).toBe(text);
  });
});

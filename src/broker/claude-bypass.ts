/**
 * Claude Code settings that would take a session out of `thirdloop run`. Claude Code applies the
 * `env` of its settings files over the environment it was started with (since 2.0), so an
 * `env.ANTHROPIC_BASE_URL` there sends the session past the broker; and a key from `apiKeyHelper`,
 * `env.ANTHROPIC_API_KEY` or `env.ANTHROPIC_AUTH_TOKEN` goes out instead of (or beside) the run
 * token, which the broker refuses. Seen with Claude Code 2.1: after `setup claude --key-helper`,
 * `run -- claude -p` sent both to the instance directly and retried its 401s for minutes. So
 * `run -- claude` reads the user's and this project's settings (the files Claude Code reads for
 * this directory) and stops before starting when one of them would do that. Read-only.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { claudeSettingsPath, parseSettings } from '../clients/claude.js';

/** `claude`, `claude.exe`, `claude.cmd`, with or without a directory. */
export const isClaudeCommand = (file: string): boolean => /^claude(\.exe|\.cmd|\.bat)?$/i.test(path.basename(file.replaceAll('\\', '/')));

export interface BypassInput {
  env: NodeJS.ProcessEnv;
  homedir: string;
  cwd: string;
  platform: NodeJS.Platform;
}

/** One sentence per file and setting, naming both; never a value. */
export async function claudeBypasses(input: BypassInput): Promise<string[]> {
  const files = [
    claudeSettingsPath({ env: input.env, homedir: input.homedir, platform: input.platform }),
    path.join(input.cwd, '.claude', 'settings.json'),
    path.join(input.cwd, '.claude', 'settings.local.json'),
  ];
  const warnings: string[] = [];
  for (const file of new Set(files)) {
    let settings: Record<string, unknown>;
    try {
      settings = parseSettings(await readFile(file, 'utf8'), file);
    } catch {
      continue; // Absent or unreadable: Claude Code takes nothing from it either.
    }
    const env = settings.env && typeof settings.env === 'object' ? (settings.env as Record<string, unknown>) : {};
    if (typeof env.ANTHROPIC_BASE_URL === 'string') {
      warnings.push(`${file} sets env.ANTHROPIC_BASE_URL, which Claude Code applies over the broker's address, so the session would not go through it.`);
    }
    for (const name of ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN']) {
      if (typeof env[name] === 'string') warnings.push(`${file} sets env.${name}, which Claude Code would send instead of the run token.`);
    }
    if (typeof settings.apiKeyHelper === 'string') {
      warnings.push(`${file} sets apiKeyHelper, whose key Claude Code would send beside or instead of the run token.`);
    }
  }
  return warnings;
}

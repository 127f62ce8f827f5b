/**
 * Claude Code settings that would take a session out of `thirdloop run` without a word. Claude
 * Code applies the `env` of its settings files over the environment it was started with (since
 * 2.0), so an `env.ANTHROPIC_BASE_URL` there sends the session past the broker; and a key from
 * `apiKeyHelper`, `env.ANTHROPIC_API_KEY` or `env.ANTHROPIC_AUTH_TOKEN` replaces the run token,
 * which the broker then refuses. `run -- claude` reads the user's and this project's settings
 * (the files Claude Code reads for this directory) and says so before starting. Read-only.
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

/** One warning per file and setting, naming both; never a value. */
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
      warnings.push(`${file} sets env.ANTHROPIC_BASE_URL, which Claude Code applies over the broker's address: this session will not go through \`thirdloop run\`.`);
    }
    for (const name of ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN']) {
      if (typeof env[name] === 'string') warnings.push(`${file} sets env.${name}, which Claude Code sends instead of the run token (the broker refuses it).`);
    }
    if (typeof settings.apiKeyHelper === 'string') {
      warnings.push(`${file} sets apiKeyHelper, whose key Claude Code may send instead of the run token (the broker refuses it).`);
    }
  }
  return warnings;
}

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = path.resolve('bin/thirdloop.js');
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  execFileSync(process.execPath, [bin, ...args], { env: { ...process.env, COLUMNS: '80', ...env }, encoding: 'utf8' });

describe('top-level help', () => {
  it('the build ships a pre-rendered help', () => {
    expect(existsSync(path.resolve('dist/help.txt'))).toBe(true);
  });

  it('the pre-rendered help is exactly what commander renders from the current program', () => {
    const fast = run(['--help']);
    const rendered = run(['--help'], { THIRDLOOP_RENDER_HELP: '1' });
    expect(fast).toBe(rendered);
    for (const command of ['auth', 'status', 'keys', 'setup', 'run', 'doctor', 'logout', 'token']) expect(fast).toContain(command);
    expect(fast).toMatch(/Examples:/);
  });

  it('run’s help shows the `--` form and examples', () => {
    const help = run(['run', '--help']);
    expect(help).toMatch(/Usage: thirdloop run \[--profile NAME\] -- <command> \[args\.\.\.\]/);
    expect(help).toContain('$ thirdloop run -- claude');
    expect(help.split('\n').every((line) => line.length <= 80)).toBe(true);
  });

  it('subcommand help still comes from commander', () => {
    expect(run(['keys', '--help'])).toMatch(/Usage: thirdloop keys/);
    expect(run(['-h'])).toBe(run(['--help']));
  });
});

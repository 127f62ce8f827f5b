/**
 * The contract stays pure: it imports only itself, and reaches for no I/O,
 * clock, randomness or process state (those come in as arguments).
 * Type-checked without Node's types too (protocol/tsconfig.json).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { expect, test } from 'vitest';

const dir = new URL('../src/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

test.each(files)('protocol/src/%s imports only protocol/src and touches no outside world', (file) => {
  const text = readFileSync(new URL(file, dir), 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2]);
  for (const spec of specifiers) expect(spec, `${file} imports ${spec}`).toMatch(/^\.\/[a-z-]+\.js$/);
  const code = text.replace(/\/\*[\s*]*[^]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const banned of [/\bDate\.now\b/, /\bnew Date\b/, /\bperformance\./, /\bMath\.random\b/, /\bprocess\b/, /\bglobalThis\b/, /\bfetch\(/, /\bsetTimeout\b/, /\brequire\(/]) {
    expect(code, `${file} uses ${banned}`).not.toMatch(banned);
  }
});

test('the package declares no dependencies and is never published', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  expect(pkg.private).toBe(true);
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies']) expect(pkg[field]).toBeUndefined();
});

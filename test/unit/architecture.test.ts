/**
 * Which package imports which (README, "Architecture"): the CLI (`src/`)
 * never imports the server, both reach the protocol only by its package name,
 * the CLI's modules import each other without cycles, and the built programs
 * carry the protocol inlined (the published CLI has no dependency on it).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Every module specifier of a file: static imports and re-exports, and dynamic import() of a literal. */
function specifiers(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => (m[1] ?? m[2])!);
}

/** The repository path a relative specifier points at (`.js` written for the `.ts` source). */
const target = (file: string, spec: string) => relative(ROOT, resolve(ROOT, dirname(file), spec.replace(/\.js$/, '.ts')));

describe('imports', () => {
  const cli = sources('src');
  const server = sources('server/src');

  test('the CLI never imports the server, and reaches the protocol only as thirdloop-protocol', () => {
    for (const file of cli) {
      for (const spec of specifiers(file)) {
        if (!spec.startsWith('.')) continue;
        expect(target(file, spec), `${file} imports ${spec}`).toMatch(/^src\/|^package\.json$/);
      }
    }
  });

  test('the server reaches the protocol only as thirdloop-protocol', () => {
    for (const file of server) {
      for (const spec of specifiers(file)) {
        if (spec.startsWith('.')) expect(target(file, spec), `${file} imports ${spec}`).toMatch(/^server\/src\//);
      }
    }
  });

  test('both import the protocol', () => {
    const users = (files: string[]) => files.filter((f) => specifiers(f).includes('thirdloop-protocol'));
    expect(users(cli)).toContain('src/core/key-actions.ts');
    expect(users(server)).toContain('server/src/domain/keys.ts');
  });

  test('no command imports another command (what two commands share lives outside src/commands)', () => {
    for (const file of cli.filter((f) => f.startsWith('src/commands/'))) {
      for (const spec of specifiers(file)) {
        if (spec.startsWith('.')) expect(target(file, spec), `${file} imports ${spec}`).not.toMatch(/^src\/commands\//);
      }
    }
  });

  test('the CLI’s modules import each other without a cycle (the context factory included)', () => {
    const graph = new Map(cli.map((f) => [f, specifiers(f).filter((s) => s.startsWith('.')).map((s) => target(f, s))]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]) => {
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'open') cycles.push([...path, file, next].slice(path.indexOf(next) >= 0 ? path.indexOf(next) : path.length).join(' → '));
        else if (!state.has(next) && graph.has(next)) visit(next, [...path, file]);
      }
      state.set(file, 'done');
    };
    for (const file of cli) if (!state.has(file)) visit(file, []);
    expect(cycles).toEqual([]);
  });
});

describe('the built programs carry the protocol inlined', () => {
  const built = (dir: string) =>
    existsSync(join(ROOT, dir)) ? readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js')).map((f) => join(dir, f)) : [];

  test.each([
    ['the CLI (dist/)', 'dist'],
    ['the server (server/dist/)', 'server/dist'],
  ])('%s never loads thirdloop-protocol at run time', (_, dir) => {
    const files = built(dir);
    expect(files.length, `${dir} is built (npm run build)`).toBeGreaterThan(0);
    for (const file of files) expect(readFileSync(join(ROOT, file), 'utf8'), file).not.toMatch(/['"]thirdloop-protocol['"]/);
  });

  test('the published CLI does not depend on it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) expect(Object.keys(pkg[field] ?? {})).not.toContain('thirdloop-protocol');
  });
});

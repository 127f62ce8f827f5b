#!/usr/bin/env node
// Where the start-up time and memory of a command go: which bundled chunks it loads, what each holds
// (the source modules and node_modules packages inlined into it, from esbuild's metafile), and what
// importing that chunk alone costs in CPU time and peak RSS over bare node. Then the cost of the HTTP
// stack: undici's WebAssembly parser against node:http, and how long process exit waits for V8's
// background tier-up of that WebAssembly.
//
// It measures a fresh build of the current sources (same tsup config, plus a metafile) in a staging copy
// of the package, so dist/ is left alone and the chunk names match what the metafile says.
//
//   node bench/explain.mjs                      # --help and --version (no server needed)
//   node bench/explain.mjs --server             # also token, status and keys list against a local reference server
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT, cpuRun, fmtBytes, isolatedEnv, median } from './lib.mjs';
import { startServer } from './server.mjs';

const { values: flags } = parseArgs({ options: { server: { type: 'boolean' }, runs: { type: 'string' } } });
const RUNS = Number(flags.runs ?? 7);
const work = mkdtempSync(join(tmpdir(), 'thirdloop-bench-explain-'));
const stage = join(work, 'package');
const DIST = join(stage, 'dist');
const CLI_BIN = join(stage, 'bin', 'thirdloop.js');
let metafile;

/** Builds the current sources into the staging copy (bin/, dist/, package.json, node_modules linked). */
function stageBuild() {
  mkdirSync(join(stage, 'bin'), { recursive: true });
  for (const file of ['bin/thirdloop.js', 'bin/package.json', 'package.json']) copyFileSync(join(ROOT, file), join(stage, file));
  symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'tsup', 'dist', 'cli-default.js'), '--silent', '--out-dir', DIST, '--metafile'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the build failed: ${r.stderr.trim().slice(-400)}`);
  metafile = JSON.parse(readFileSync(join(DIST, 'metafile-esm.json'), 'utf8'));
}

/** The dist/ files a command loads, in load order, recorded by a module load hook. */
function loadedChunks(args, env) {
  const log = join(work, 'loaded.txt');
  const hooks = join(work, 'hooks.mjs');
  const register = join(work, 'register.mjs');
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  if (url.includes('/dist/') || url.includes('/bin/')) appendFileSync(${JSON.stringify(log)}, url + '\\n');\n  return next(url, context);\n}\n`);
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);
  rmSync(log, { force: true });
  const r = spawnSync(process.execPath, ['--import', register, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return existsSync(log) ? [...new Set(readFileSync(log, 'utf8').trim().split('\n'))] : [];
}

/** What esbuild put into a chunk: node_modules packages, then our own modules (from the metafile). */
function packagesIn(file) {
  const output = Object.entries(metafile.outputs).find(([out]) => join(ROOT, out) === file || out.endsWith(file.slice(DIST.length)))?.[1];
  if (!output) return '?';
  const packages = new Map();
  const own = [];
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    if (bytesInOutput === 0) continue;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
    if (pkg) packages.set(pkg, (packages.get(pkg) ?? 0) + bytesInOutput);
    else own.push(input.replace(/^(src|protocol\/src)\//, (m, dir) => (dir === 'src' ? '' : 'protocol:')).replace(/\.ts$/, ''));
  }
  const parts = [...packages].sort((a, b) => b[1] - a[1]).map(([name, bytes]) => `${name} (${fmtBytes(bytes)})`);
  if (own.length) parts.push(own.join(' '));
  return parts.join(', ') || '(the bundler’s runtime helpers or re-exports)';
}

function peakRss(args, env) {
  const out = join(work, 'rss.txt');
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', out, process.execPath, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) return NaN;
  return Number(readFileSync(out, 'utf8').trim().split('\n').pop()) / 1024;
}

const medianOf = (fn) => median(Array.from({ length: RUNS }, fn));

function explainCommand(label, args, env) {
  const bareCpu = medianOf(() => cpuRun(['-e', '0'], { env }));
  const cmdCpu = medianOf(() => cpuRun([CLI_BIN, ...args], { env }));
  const haveTime = existsSync('/usr/bin/time');
  const bareRss = haveTime ? medianOf(() => peakRss(['-e', '0'], env)) : NaN;
  const cmdRss = haveTime ? medianOf(() => peakRss([CLI_BIN, ...args], env)) : NaN;
  console.log(`\n${label}: ${cmdCpu.toFixed(1)} ms CPU (bare node ${bareCpu.toFixed(1)} ms, +${(cmdCpu - bareCpu).toFixed(1)} ms), peak RSS ${cmdRss.toFixed(1)} MB (bare ${bareRss.toFixed(1)} MB)`);
  const chunks = loadedChunks([CLI_BIN, ...args], env);
  const rows = [['chunk', 'size', 'CPU to import it*', 'RSS*', 'holds']];
  for (const url of chunks) {
    const file = fileURLToPath(url);
    const code = `await import(${JSON.stringify(url)})`;
    // main.js and the bin run the CLI when imported: their own cost is the command's minus the rest.
    const alone = file.endsWith(join('dist', 'main.js')) || file.includes(`${join('bin', 'thirdloop.js')}`) ? undefined : ['--input-type=module', '-e', code];
    const cpu = alone ? medianOf(() => cpuRun(alone, { env })) - bareCpu : NaN;
    const rss = alone && haveTime ? medianOf(() => peakRss(alone, env)) - bareRss : NaN;
    const inBin = file.startsWith(join(stage, 'bin'));
    rows.push([
      file.slice(stage.length + 1),
      fmtBytes(statSync(file).size),
      Number.isFinite(cpu) ? `+${cpu.toFixed(1)} ms` : '(runs the CLI)',
      Number.isFinite(rss) ? `+${rss.toFixed(1)} MB` : '',
      inBin ? 'answers --version and --help; imports dist/main.js otherwise' : packagesIn(file),
    ]);
  }
  if (!chunks.some((u) => u.includes('/dist/'))) {
    console.log('  no file of dist/: bin/thirdloop.js (CommonJS) answers it without the ES module loader.');
    return;
  }
  const bytes = chunks.filter((u) => u.includes('/dist/')).reduce((sum, u) => sum + statSync(fileURLToPath(u)).size, 0);
  console.log(`  ${chunks.filter((u) => u.includes('/dist/')).length} files of dist/ (${fmtBytes(bytes)}):`);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log(`  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')}`);
  console.log('  * over bare node, importing that chunk alone in a fresh process (so including the chunks it imports).');
}

/** ms between the child's own 'exit' event and the parent seeing it exit: what teardown waits for. */
async function exitGap(args, env) {
  const hook = join(work, 'exit-hook.cjs');
  writeFileSync(hook, 'process.on("exit",()=>process.stderr.write("exit-hook "+(performance.timeOrigin+performance.now())+"\\n"));\n');
  const gaps = [];
  for (let i = 0; i < RUNS; i++) {
    const child = spawn(process.execPath, ['--require', hook, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exitedAt = await new Promise((resolve) => child.once('exit', () => resolve(performance.timeOrigin + performance.now())));
    const m = /exit-hook ([\d.]+)/.exec(err);
    if (m) gaps.push(exitedAt - Number(m[1]));
  }
  return median(gaps);
}

async function explainHttp(server, env, credential) {
  const get = (client) =>
    client === 'undici'
      ? `import { request } from ${JSON.stringify(join(ROOT, 'node_modules', 'undici', 'index.js'))}; const r = await request(${JSON.stringify(`${server.url}/healthz`)}); await r.body.text(); process.exit(0);`
      : `import http from 'node:http'; await new Promise((ok) => http.get(${JSON.stringify(`${server.url}/healthz`)}, (r) => { r.resume(); r.on('end', ok); })); process.exit(0);`;
  const bareCpu = medianOf(() => cpuRun(['-e', '0'], { env }));
  console.log('\nOne GET over loopback, then process.exit (as the CLI ends):');
  for (const client of ['node:http', 'undici']) {
    const args = ['--input-type=module', '-e', get(client)];
    const cpu = medianOf(() => cpuRun(args, { env })) - bareCpu;
    const rss = medianOf(() => peakRss(args, env));
    console.log(`  ${client.padEnd(9)}  +${cpu.toFixed(1)} ms CPU over bare node, peak RSS ${rss.toFixed(1)} MB, exit waits ${(await exitGap(args, env)).toFixed(1)} ms`);
  }
  const raw = [join(ROOT, 'bench', 'raw-get.mjs'), `${server.url}/api/keys`];
  const rawEnv = { ...env, BENCH_CREDENTIAL: credential };
  const rawCpu = medianOf(() => cpuRun(raw, { env: rawEnv })) - bareCpu;
  console.log(`  bench/raw-get.mjs (the floor of status and keys list: the authenticated GET /api/keys, body to stdout): +${rawCpu.toFixed(1)} ms CPU over bare node, peak RSS ${medianOf(() => peakRss(raw, rawEnv)).toFixed(1)} MB`);
  const list = [CLI_BIN, 'keys', 'list', '--json'];
  console.log(`  thirdloop keys list --json: exit waits ${(await exitGap(list, env)).toFixed(1)} ms; with --liftoff-only (no background tier-up of the WebAssembly) ${(await exitGap(['--liftoff-only', ...list], env)).toFixed(1)} ms`);
}

async function main() {
  console.error('building the current sources into a staging copy (with a metafile)…');
  stageBuild();
  const home = mkdtempSync(join(work, 'home-'));
  const env = isolatedEnv(home);
  explainCommand('thirdloop --version', ['--version'], env);
  explainCommand('thirdloop --help', ['--help'], env);
  if (!flags.server) return;
  const server = await startServer();
  try {
    server.addUser('explain@example.com');
    const key = server.createKey('explain@example.com', 'explain');
    const auth = spawnSync(process.execPath, [CLI_BIN, 'auth', '--with-key', '--insecure-storage', '--api-url', server.url], { env, input: key.credential, encoding: 'utf8' });
    if (auth.status !== 0) throw new Error(`auth --with-key exited ${auth.status}: ${auth.stderr.trim()}`);
    explainCommand('thirdloop token (0600 file)', ['token'], env);
    explainCommand('thirdloop status', ['status'], env);
    explainCommand('thirdloop keys list --json', ['keys', 'list', '--json'], env);
    explainCommand('thirdloop keys list (table)', ['keys', 'list'], env);
    await explainHttp(server, env, key.credential);
  } finally {
    await server.stop();
  }
}

main()
  .catch((error) => {
    console.error(`explain: ${error.message}`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(work, { recursive: true, force: true }));

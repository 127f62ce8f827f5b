/**
 * Preloaded into the CLI (NODE_OPTIONS=--require …) by the secret-hygiene
 * test: appends the argv and the environment of every child process the CLI
 * starts to THIRDLOOP_TEST_ARGV_LOG, one JSON line each (the log lives outside
 * the HOME; the test searches it for secrets). The ESM view of
 * node:child_process is synced so that `import { spawn }` sees the wrappers.
 */
'use strict';
const cp = require('node:child_process');
const fs = require('node:fs');
const { syncBuiltinESMExports } = require('node:module');

const log = process.env.THIRDLOOP_TEST_ARGV_LOG;
if (log) {
  // The options object, wherever the call put it: (file, args, options) or (file, options).
  const optionsOf = (args, rest) => (Array.isArray(args) ? rest[0] : args);
  const record = (fn, file, args, options) => {
    const env = options && typeof options === 'object' && options.env ? options.env : process.env;
    const line = { pid: process.pid, fn, file: String(file), args: Array.isArray(args) ? args.map(String) : [], env: { ...env } };
    fs.appendFileSync(log, `${JSON.stringify(line)}\n`);
  };
  for (const fn of ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'fork']) {
    const original = cp[fn];
    cp[fn] = function (file, args, ...rest) {
      record(fn, file, args, optionsOf(args, rest));
      return original.call(this, file, args, ...rest);
    };
  }
  for (const fn of ['exec', 'execSync']) {
    const original = cp[fn];
    cp[fn] = function (command, ...rest) {
      record(fn, command, [], rest[0]);
      return original.call(this, command, ...rest);
    };
  }
  syncBuiltinESMExports();
}

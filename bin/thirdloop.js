#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): `thirdloop --version` and `thirdloop --help` answer here, at
// about the cost of bare node, without starting Node's ES module loader or the CLI. The help is
// dist/help.txt, rendered by the build from commander's program (tsup.config.ts). Every other line
// goes to the CLI, dist/main.js.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const only = args.length === 1 ? args[0] : undefined;

/** dist/help.txt; undefined when the build has not rendered it (or while it renders it). */
function prerenderedHelp() {
  if (process.env.THIRDLOOP_RENDER_HELP) return undefined;
  try {
    return fs.readFileSync(path.join(__dirname, '..', 'dist', 'help.txt'), 'utf8') || undefined;
  } catch {
    return undefined;
  }
}

let help;
if (only === '--version' || only === '-v') {
  process.stdout.write(`${require('../package.json').version}\n`);
} else if ((only === '--help' || only === '-h') && (help = prerenderedHelp())) {
  process.stdout.write(help);
} else {
  import('../dist/main.js');
}

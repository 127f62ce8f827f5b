/**
 * thirdloop-protocol: what the CLI (`src/`) and a Third Loop instance
 * (`server/`) must agree on, written once. Pure: constants, types and
 * functions of their arguments; no I/O, no clock, no dependencies. Both
 * programs bundle it, so it is never installed on its own.
 */
export * from './api.js';
export * from './cli-auth.js';
export * from './credential.js';
export * from './keys.js';
export * from './names.js';

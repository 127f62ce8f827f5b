import { describe, expect, test } from 'vitest';
import { Writable } from 'node:stream';
import { CommanderError } from 'commander';
import { reportError } from '../../src/core/report-error.js';
import { UserError, notAuthenticated } from '../../src/core/errors.js';
import { ApiError } from '../../src/core/http.js';

function sink() {
  let text = '';
  const stream = new Writable({ write: (chunk, _, done) => ((text += chunk), done()) });
  return { stream, text: () => text };
}

describe('top-level error handler', () => {
  test('UserError: message and hint, its exit code, no stack', () => {
    const s = sink();
    const code = reportError(notAuthenticated(), false, s.stream);
    expect(code).toBe(4);
    expect(s.text()).toBe('Error: Not signed in.\nRun `thirdloop auth` first.\n');
  });

  test('ApiError keeps its exit code; the cause\'s stack appears only with --debug', () => {
    const cause = new Error('socket hang up');
    const error = new ApiError('The connection to http://x/api/me was closed before an answer arrived.', { status: 0, url: 'http://x/api/me', hint: 'Try again.', cause });
    const quiet = sink();
    expect(reportError(error, false, quiet.stream)).toBe(1);
    expect(quiet.text()).not.toContain('socket hang up');
    const loud = sink();
    reportError(error, true, loud.stream);
    expect(loud.text()).toContain('Error: socket hang up\n    at ');
  });

  test('unexpected errors: one sentence; the stack only with --debug', () => {
    const quiet = sink();
    expect(reportError(new TypeError('x is not a function\nmore'), false, quiet.stream)).toBe(1);
    expect(quiet.text()).toBe('Error: Something unexpected went wrong: x is not a function\nRun again with --debug for details, and report it if it persists.\n');
    const loud = sink();
    reportError(new TypeError('boom'), true, loud.stream);
    expect(loud.text()).toMatch(/TypeError: boom\n\s+at /);
  });

  test('commander: help and version exit 0, usage errors exit 2 (commander printed them)', () => {
    const s = sink();
    expect(reportError(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"), false, s.stream)).toBe(2);
    expect(reportError(new CommanderError(0, 'commander.helpDisplayed', ''), false, s.stream)).toBe(0);
    expect(reportError(new CommanderError(0, 'commander.version', ''), false, s.stream)).toBe(0);
    // `thirdloop keys` alone prints the group's help: not an error, as in gh.
    expect(reportError(new CommanderError(1, 'commander.help', ''), false, s.stream)).toBe(0);
    expect(s.text()).toBe('');
  });

  test('anything shaped like a secret key is redacted, even in messages we did not write', () => {
    const s = sink();
    reportError(new UserError('bad tlk_abc;tls_SECRETSECRET value'), false, s.stream);
    reportError(new Error('leaked tls_ANOTHER'), true, s.stream);
    expect(s.text()).not.toMatch(/tls_[A-Za-z0-9]/);
    expect(s.text()).toContain('tls_***');
  });

  test('an empty UserError message prints nothing (the command already reported)', () => {
    const s = sink();
    expect(reportError(new UserError('', { exitCode: 4 }), false, s.stream)).toBe(4);
    expect(s.text()).toBe('');
  });
});

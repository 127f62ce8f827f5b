/** Helpers the shell modules share: path flavour, home-relative paths, value checks. */
import path from 'node:path';
import type { ShellEnv } from './types.js';

export const pathFor = (platform: NodeJS.Platform) => (platform === 'win32' ? path.win32 : path.posix);

/** XDG_CONFIG_HOME when absolute (XDG says to ignore a relative one), else ~/.config. */
export function xdgConfigHome(e: ShellEnv): string {
  const p = pathFor(e.platform);
  const xdg = e.env.XDG_CONFIG_HOME?.trim();
  return xdg && p.isAbsolute(xdg) ? xdg : p.join(e.homedir, '.config');
}

/**
 * The part of `file` under the home directory, when it is there and made of
 * plain characters only: profiles then say "$HOME/.config/thirdloop/env.sh",
 * which keeps working when the profile is synced to another machine.
 */
export function underHome(file: string, e: ShellEnv): string | undefined {
  const p = pathFor(e.platform);
  const rel = p.relative(e.homedir, file);
  if (!rel || rel.startsWith('..') || p.isAbsolute(rel)) return undefined;
  const plain = e.platform === 'win32' ? /^[A-Za-z0-9._\\/ -]+$/ : /^[A-Za-z0-9._/-]+$/;
  return plain.test(rel) ? rel.split(p.sep).join(e.platform === 'win32' ? '\\' : '/') : undefined;
}

/** Values go inside quotes; a control character there could only be a mistake or an attack. */
export function checkValue(name: string, value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`${name} contains a control character`);
  if (value.length === 0) throw new Error(`${name} is empty`);
  return value;
}

export const ENV_FILE_HEADER = [
  'Written by thirdloop. Holds your Third Loop API key: keep this file private (mode 0600).',
  'Rewritten by `thirdloop setup claude` and when the key is rotated; removed by `thirdloop setup claude --undo`.',
];

export const RUN_FILE_HEADER = [
  'Written by thirdloop. Holds no key: each command below runs through `thirdloop run`, which reads the key where',
  '`thirdloop auth` stored it (the keychain) and hands the command a token for a broker on 127.0.0.1, good only while it runs.',
  'Rewritten by `thirdloop setup claude --via-run`; removed by `thirdloop setup claude --undo`.',
];

/**
 * A wrapper's words up to `--`: the program (`byName` when it is the `thirdloop` found on PATH, else
 * its absolute paths quoted), then `run [--profile P]`.
 */
export function runWords(values: { thirdloop: string[]; profile: string }, quote: (value: string) => string, byName: string): string {
  const onPath = values.thirdloop.length === 1 && values.thirdloop[0] === 'thirdloop';
  const program = onPath ? byName : values.thirdloop.map(quote).join(' ');
  return [program, 'run', ...(values.profile === 'default' ? [] : ['--profile', quote(values.profile)])].join(' ');
}

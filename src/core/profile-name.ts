import { UserError } from './errors.js';

/** Profile names become file/keychain account names: keep them boring. */
export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    // Quoted and cut: the name may hold terminal escapes or be a 100 KB paste.
    const shown = JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
    throw new UserError(`Invalid profile name ${shown}: use 1–64 letters, digits, dots, dashes or underscores.`, {
      exitCode: 2,
    });
  }
  return name;
}

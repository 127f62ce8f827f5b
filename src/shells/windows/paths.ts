/** Windows paths and environment names, shared by the Windows modules (no I/O). */
import path from 'node:path';

/** Case-insensitive, as Windows environment names are. */
export function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  if (env[name] !== undefined) return env[name];
  const key = Object.keys(env).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : env[key];
}

/**
 * Windows paths in the home's own style: Windows takes / and \ alike, and
 * a home given as a POSIX path (a test home on another system, with the
 * platform injected as win32) keeps working as a real folder there.
 */
export function windowsPathFlavour(homedir: string): path.PlatformPath {
  return homedir.startsWith('/') ? path.posix : path.win32;
}

export function windowsJoin(homedir: string, ...parts: string[]): string {
  const p = windowsPathFlavour(homedir);
  return p === path.posix ? p.join(...parts.map((part) => part.replace(/\\/g, '/'))) : p.join(...parts);
}

/**
 * %NAME% replaced from the environment, names case-insensitive; an unknown
 * name stays as it is, as ExpandEnvironmentStrings leaves it.
 */
export function expandEnvironmentStrings(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/%([^%=]+)%/g, (whole, name: string) => envValue(env, name) ?? whole);
}


/**
 * Non-secret settings, per profile, in <config dir>/config.json (0600, dir 0700).
 * The secret never comes here: core/secrets.ts keeps it.
 */
import { chmodSync, statSync } from 'node:fs';
import Conf from 'conf';
import type { ConfigStore, ProfileConfig } from './stores.js';
import { UserError } from './errors.js';
import { DIR_MODE, FILE_MODE, configFilePath, makeDirs } from './paths.js';

interface Shape {
  profiles?: Record<string, ProfileConfig>;
  [key: string]: unknown;
}

// Kept in its own module so commands can check a name without loading conf.
export { PROFILE_NAME, checkProfileName } from './profile-name.js';
import { checkProfileName } from './profile-name.js';

export function openConfig(dir: string): ConfigStore {
  const file = configFilePath(dir);
  try {
    makeDirs(dir, DIR_MODE);
    if (process.platform !== 'win32' && (statSync(dir).mode & 0o077) !== 0) chmodSync(dir, DIR_MODE);
  } catch (error) {
    throw new UserError(`Cannot create the config directory ${dir}: ${(error as NodeJS.ErrnoException).code ?? error}.`, {
      cause: error,
    });
  }

  let conf: Conf<Shape>;
  try {
    conf = new Conf<Shape>({
      cwd: dir,
      configName: 'config',
      projectName: 'thirdloop',
      projectSuffix: '',
      configFileMode: FILE_MODE,
      accessPropertiesByDotNotation: false,
      clearInvalidConfig: false,
      watch: false,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = error instanceof SyntaxError ? 'it is not valid JSON' : (code ?? 'unreadable');
    throw new UserError(`Cannot read the config file ${file}: ${reason}.`, {
      hint: `Fix or delete ${file}, then run \`thirdloop auth\` again.`,
      cause: error,
    });
  }

  const profiles = (): Record<string, ProfileConfig> => {
    const value = conf.get('profiles');
    return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
  };
  const write = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      throw new UserError(`Cannot write the config file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}.`, {
        cause: error,
      });
    }
  };

  return {
    path: file,
    dir,
    getProfile(name) {
      const value = profiles()[name];
      return value && typeof value === 'object' ? { ...value } : undefined;
    },
    setProfile(name, value) {
      checkProfileName(name);
      // Drop undefined fields so the file stays tidy.
      const clean = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as ProfileConfig;
      write(() => conf.set('profiles', { ...profiles(), [name]: clean }));
    },
    deleteProfile(name) {
      const all = profiles();
      if (!(name in all)) return;
      delete all[name];
      write(() => conf.set('profiles', all));
    },
    profileNames: () => Object.keys(profiles()),
    get<T>(key: string) {
      return conf.get(key) as T | undefined;
    },
    set(key, value) {
      if (key === 'profiles') throw new Error('use setProfile');
      write(() => (value === undefined ? conf.delete(key) : conf.set(key, value)));
    },
  };
}

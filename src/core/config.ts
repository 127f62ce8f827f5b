/**
 * Non-secret settings, per profile, in <config dir>/config.json (0600, dir 0700).
 * The secret never comes here: core/secrets.ts keeps it.
 *
 * Reading is reading one small JSON file, fresh on every call (another
 * process may have written it since). Writing replaces it atomically: a temp
 * file beside it (0600, fsync'd), then a rename, so a reader sees the old
 * file or the new one, never a part. The format is the one `conf` wrote
 * before this module replaced it (tab-indented JSON, no schema, no dotted
 * paths), so files written by either read the same. conf cost 200 kB of
 * bundle (ajv, ajv-formats, semver, atomically…) and ~+60 ms of CPU on every
 * command that read the profile; none of its schema, migration or watch
 * features were used.
 */
import { fs } from './node-fs.js';
import path from 'node:path';
import type { ConfigStore, ProfileConfig } from './stores.js';
import { UserError } from './errors.js';
import { DIR_MODE, FILE_MODE, configFilePath, makeDirs } from './paths.js';

type Shape = Record<string, unknown>;

// Kept in its own module so commands can check a name without loading this one.
export { PROFILE_NAME, checkProfileName } from './profile-name.js';
import { checkProfileName } from './profile-name.js';

const { chmodSync, chownSync, closeSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } = fs;

const isObject = (value: unknown): value is Record<string, unknown> => Boolean(value) && typeof value === 'object' && !Array.isArray(value);

/** The whole file as an object; {} when there is none. Throws a UserError naming the file otherwise. */
function readShape(file: string): Shape {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    throw unreadable(file, code === 'EISDIR' ? 'it is a directory' : (code ?? 'unreadable'), error);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw unreadable(file, 'it is not valid JSON', error);
  }
  // An array or a bare value would be replaced by the next write: say so instead of losing it.
  if (!isObject(data)) throw unreadable(file, 'it does not hold a JSON object', undefined);
  return data;
}

const unreadable = (file: string, reason: string, cause: unknown) =>
  new UserError(`Cannot read the config file ${file}: ${reason}.`, {
    hint: `Fix or delete ${file}, then run \`thirdloop auth\` again.`,
    cause,
  });

/**
 * Replaces `file` with `text` atomically: a symlink is followed (the link
 * stays), the file ends 0600 whatever it was, and an owner other than us
 * (root editing a user's file) is kept where the system allows it.
 */
function replaceFile(file: string, text: string): void {
  let target = file;
  try {
    target = realpathSync(file);
  } catch {
    // Not there yet (or a dangling link's target): write the path as given.
  }
  let owner: { uid: number; gid: number } | undefined;
  try {
    const stat = statSync(target);
    owner = { uid: stat.uid, gid: stat.gid };
  } catch {
    makeDirs(path.dirname(target), DIR_MODE);
  }
  const temp = `${target}.${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}.tmp`;
  try {
    const fd = openSync(temp, 'wx', FILE_MODE);
    try {
      writeFileSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (process.platform !== 'win32') {
      chmodSync(temp, FILE_MODE); // the umask may have taken bits off; 0600 exactly
      if (owner && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) {
        try {
          chownSync(temp, owner.uid, owner.gid);
        } catch {
          // Only root may give a file away; anyone else writes it as their own.
        }
      }
    }
    renameWithRetry(temp, target);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * On Windows a rename over a file that an antivirus or indexer holds open fails
 * for a moment with EPERM, EACCES or EBUSY; try again for up to a second, as
 * conf's writer did.
 */
function renameWithRetry(from: string, to: string): void {
  for (let waited = 0; ; waited += 50) {
    try {
      renameSync(from, to);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (process.platform !== 'win32' || waited >= 1000 || !(code === 'EPERM' || code === 'EACCES' || code === 'EBUSY')) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

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
  // Read once now, so a broken file is reported before the command does anything.
  readShape(file);

  const profiles = (shape = readShape(file)): Record<string, ProfileConfig> => {
    const value = shape.profiles;
    return isObject(value) ? (value as Record<string, ProfileConfig>) : {};
  };
  const update = (change: (shape: Shape) => void) => {
    const shape = readShape(file);
    change(shape);
    try {
      // conf's format, kept so that files read the same whichever version wrote them.
      replaceFile(file, JSON.stringify(shape, undefined, '\t'));
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
      const all = profiles();
      const value = Object.hasOwn(all, name) ? all[name] : undefined;
      return isObject(value) ? { ...value } : undefined;
    },
    setProfile(name, value) {
      checkProfileName(name);
      // Drop undefined fields so the file stays tidy.
      const clean = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as ProfileConfig;
      update((shape) => (shape.profiles = { ...profiles(shape), [name]: clean }));
    },
    deleteProfile(name) {
      if (!Object.hasOwn(profiles(), name)) return;
      update((shape) => {
        const all = profiles(shape);
        delete all[name];
        shape.profiles = all;
      });
    },
    profileNames: () => Object.keys(profiles()),
    get<T>(key: string) {
      const shape = readShape(file);
      return (Object.hasOwn(shape, key) ? shape[key] : undefined) as T | undefined;
    },
    set(key, value) {
      if (key === 'profiles') throw new Error('use setProfile');
      update((shape) => {
        if (value === undefined) delete shape[key];
        else shape[key] = value;
      });
    },
  };
}

/**
 * Whole homes shaped like real users' (not single files): a builder that
 * lays out files (any bytes), folders, symlinks, FIFOs and device links
 * with modes and owners, and a snapshot that records every entry's bytes,
 * mode, owner and group (without ever opening a FIFO or a device) to prove
 * "given back exactly".
 *
 *   const home = buildHome(spec);          // a fresh temp folder
 *   const before = snapshotHome(home.dir);
 *   …
 *   expect(diffHome(before, snapshotHome(home.dir))).toEqual([]);
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type Entry =
  /** A regular file; `owner` defaults to the home's. */
  | { file: string; bytes: string | Buffer; mode?: number; owner?: 'root' }
  | { dir: string; mode?: number; owner?: 'root' }
  | { link: string; to: string }
  | { fifo: string }
  /** A copy of a corpus file (bytes as they are). */
  | { copy: string; from: string; mode?: number };

export interface HomeSpec {
  name: string;
  entries: Entry[];
  /** Owner of the home and everything in it (default: this process's user). */
  uid?: number;
  gid?: number;
}

export interface BuiltHome {
  /** The home folder. */
  dir: string;
  /** A folder beside it (for things outside the home: a read-only store, …). */
  outside: string;
  uid: number;
  gid: number;
  cleanup(): void;
}

/** Builds a home in a fresh temp folder. `{OUTSIDE}` in a link target is the folder beside the home. */
export function buildHome(spec: HomeSpec): BuiltHome {
  const root = mkdtempSync(path.join(tmpdir(), `thirdloop-home-${spec.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40)}-`));
  chmodSync(root, 0o755); // another uid must be able to reach its home
  const dir = path.join(root, 'home');
  const outside = path.join(root, 'outside');
  mkdirSync(dir, { mode: 0o755 });
  mkdirSync(outside, { mode: 0o755 });
  const uid = spec.uid ?? process.getuid!();
  const gid = spec.gid ?? process.getgid!();
  const at = (rel: string) => (rel.startsWith('{OUTSIDE}') ? path.join(outside, rel.slice('{OUTSIDE}'.length)) : path.join(dir, rel));
  const parents = (file: string) => mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const lateModes: Array<[string, number]> = [];
  for (const entry of spec.entries) {
    if ('file' in entry) {
      const file = at(entry.file);
      parents(file);
      writeFileSync(file, entry.bytes);
      chmodSync(file, entry.mode ?? 0o644);
    } else if ('copy' in entry) {
      const file = at(entry.copy);
      parents(file);
      writeFileSync(file, readFileSync(entry.from));
      chmodSync(file, entry.mode ?? 0o644); // the corpus is read-only
    } else if ('dir' in entry) {
      const folder = at(entry.dir);
      mkdirSync(folder, { recursive: true, mode: 0o755 });
      if (entry.mode !== undefined) lateModes.push([folder, entry.mode]);
    } else if ('link' in entry) {
      const link = at(entry.link);
      parents(link);
      symlinkSync(entry.to.replace('{OUTSIDE}', outside), link);
    } else {
      const fifo = at(entry.fifo);
      parents(fifo);
      execFileSync('mkfifo', [fifo]);
    }
  }
  // Everything belongs to the home's owner, but what the spec gives to root.
  const rootOwned = new Set(spec.entries.filter((e) => 'owner' in e && e.owner === 'root').map((e) => at('file' in e ? e.file : (e as { dir: string }).dir)));
  const walk = (p: string) => {
    const stat = lstatSync(p);
    if (!rootOwned.has(p)) lchownSync(p, uid, gid);
    if (stat.isDirectory()) for (const name of readdirSync(p)) walk(path.join(p, name));
  };
  walk(dir);
  walk(outside);
  for (const [folder, mode] of lateModes) chmodSync(folder, mode);
  return {
    dir,
    outside,
    uid,
    gid,
    cleanup: () => {
      for (const [folder] of lateModes) chmodSync(folder, 0o755);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** path (relative) → what is there, with mode, owner and group; bytes as a hash. FIFOs and devices are never opened. */
export type HomeSnapshot = Map<string, string>;

export function snapshotHome(root: string): HomeSnapshot {
  const out: HomeSnapshot = new Map();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      const stat = lstatSync(full);
      const meta = `${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
      if (stat.isSymbolicLink()) out.set(rel, `link -> ${readlinkSync(full)} ${stat.uid}:${stat.gid}`);
      else if (stat.isDirectory()) {
        out.set(rel, `dir ${meta}`);
        walk(full);
      } else if (stat.isFile()) out.set(rel, `file ${meta} ${stat.size} ${createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16)}`);
      else out.set(rel, `special ${stat.mode.toString(8)} ${stat.uid}:${stat.gid}`);
    }
  };
  walk(root);
  return out;
}

/** Differences, one line each; `ignore` drops paths (shell caches a terminal creates anyway). */
export function diffHome(before: HomeSnapshot, after: HomeSnapshot, ignore: RegExp = /$^/): string[] {
  const lines: string[] = [];
  for (const [rel, was] of before) {
    if (ignore.test(rel)) continue;
    const now = after.get(rel);
    if (now === undefined) lines.push(`removed ${rel}`);
    else if (now !== was) lines.push(`changed ${rel}: ${was} => ${now}`);
  }
  for (const [rel, now] of after) if (!before.has(rel) && !ignore.test(rel)) lines.push(`created ${rel}: ${now}`);
  return lines;
}

/**
 * What shells and their plugins create by themselves when a terminal opens
 * (fish's universal variables, XDG data and state such as z's database,
 * zsh's completion dump, caches, histories): not ours, and a new terminal
 * makes them anyway.
 */
export const SHELL_CACHES = /^(\.config\/fish(\/fish_variables)?|\.local(\/(share|state)(\/.*)?)?|\.zcompdump.*|\.zsh_history|\.bash_history|\.cache(\/.*)?)$/;

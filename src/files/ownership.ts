/**
 * Who may write what, and who owns what we write.
 *
 * Writability is judged by the mode bits and ownership, as the kernel
 * would for that user, never by access(): access() says yes to root for
 * every file. Root is still refused a file or folder nobody may write
 * (mode 0444, a link into a Nix store): that mode is someone saying "don't".
 *
 * Run as root on someone else's home (sudo), a replaced file keeps its
 * owner and group, and a new file or folder goes to the home's owner, so
 * the owner's next terminal can read what we wrote.
 */
import { promises as fs } from 'node:fs';

export interface Owner {
  uid: number;
  gid: number;
}

export interface Identity extends Owner {
  /** Supplementary groups. */
  groups: number[];
}

interface ModeAndOwner {
  mode: number;
  uid: number;
  gid: number;
}

/** This process's user; undefined on Windows, where mode bits do not decide. */
export function currentIdentity(): Identity | undefined {
  if (typeof process.getuid !== 'function' || typeof process.getgid !== 'function') return undefined;
  return { uid: process.getuid(), gid: process.getgid(), groups: process.getgroups?.() ?? [] };
}

export const isRoot = (who: Identity | undefined) => who?.uid === 0;

/** Whether `who` may replace a file (or, `folder`, create entries in a folder) with this mode and owner. */
export function mayWrite(stat: ModeAndOwner, who: Identity | undefined, folder = false): boolean {
  if (!who) return true;
  if (who.uid === 0) return (stat.mode & 0o222) !== 0;
  const need = folder ? 0o3 : 0o2; // write, and for a folder also search
  const inGroup = who.gid === stat.gid || who.groups.includes(stat.gid);
  // The kernel uses the first class that matches, even when a later one allows more.
  const bits = stat.uid === who.uid ? (stat.mode >> 6) & 7 : inGroup ? (stat.mode >> 3) & 7 : stat.mode & 7;
  return (bits & need) === need;
}

/**
 * Whether a file replaced by `who` (a new inode: temp file + rename) can
 * keep this owner and group: root can give any; others only their own uid
 * and a group they are in.
 */
export function canKeepOwner(stat: Owner, who: Identity | undefined): boolean {
  if (!who || who.uid === 0) return true;
  return stat.uid === who.uid && (stat.gid === who.gid || who.groups.includes(stat.gid));
}

/** The owner of the home folder: new files in it are theirs. */
export async function ownerOf(dir: string): Promise<Owner | undefined> {
  try {
    const stat = await fs.stat(dir);
    return { uid: stat.uid, gid: stat.gid };
  } catch {
    return undefined;
  }
}

/**
 * The owner to give new files, when it differs from this process's: only
 * root can, and only when the home belongs to someone else.
 */
export function ownerForNewFiles(homeOwner: Owner | undefined, who: Identity | undefined): Owner | undefined {
  if (!homeOwner || !isRoot(who)) return undefined;
  return homeOwner.uid === 0 && homeOwner.gid === 0 ? undefined : homeOwner;
}

/** chown that leaves a file alone when it already has that owner. */
export async function giveTo(file: string, owner: Owner | undefined): Promise<void> {
  if (!owner) return;
  const stat = await fs.lstat(file);
  if (stat.uid !== owner.uid || stat.gid !== owner.gid) await fs.lchown(file, owner.uid, owner.gid);
}

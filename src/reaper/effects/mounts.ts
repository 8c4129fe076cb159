// What is mounted under a path, from /proc/self/mountinfo, and undoing it with the umount binary
// (Node has no umount2). A chroot's /proc, /dev or bind-mounted repos must never be deleted
// through: removal unmounts first and leaves the path alone if that fails.

import { readFile } from 'node:fs/promises';
import { errorText } from './context.js';

export interface MountEntry {
  readonly id: number;
  /** Absolute and canonical, as the kernel prints it. */
  readonly mountPoint: string;
}

const MOUNTINFO = '/proc/self/mountinfo';
// A mount that keeps coming back (propagation, a process re-mounting) is reported, not chased.
const UNMOUNT_ROUNDS = 3;
// An unreachable network mount can make umount hang.
const UMOUNT_TIMEOUT_MS = 30_000;

/** proc(5): `id parent major:minor root mount-point options … - fstype source super-options`. */
export function parseMountInfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [id, , , , mountPoint] = line.split(' ');
    if (id === undefined || mountPoint === undefined) continue;
    mounts.push({ id: Number(id), mountPoint: unescapeMountPath(mountPoint) });
  }
  return mounts;
}

// The kernel writes space, tab, newline and backslash in paths as 3-digit octal escapes (\040 …).
function unescapeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountInfo(await readFile(MOUNTINFO, 'utf8'));
}

/** `dir` must be canonical (see mountinfo): a mount point never contains a symlink. */
export function mountsAtOrBelow(mounts: readonly MountEntry[], dir: string): MountEntry[] {
  return mounts.filter((mount) => mount.mountPoint === dir || mount.mountPoint.startsWith(`${dir}/`));
}

export type UnmountResult = { readonly ok: true; readonly unmounted: number } | { readonly ok: false; readonly detail: string };

/**
 * Unmounts everything at or below canonical `dir`, deepest first, then checks mountinfo again.
 * Stops at the first umount that fails (busy, permission): what is still mounted stays.
 */
export async function unmountBelow(dir: string): Promise<UnmountResult> {
  let unmounted = 0;
  for (let round = 0; round < UNMOUNT_ROUNDS; round++) {
    const mounts = mountsAtOrBelow(await readMounts(), dir);
    if (mounts.length === 0) return { ok: true, unmounted };
    // Deepest first; on one mount point, the latest (highest id, on top) first.
    mounts.sort((a, b) => depth(b.mountPoint) - depth(a.mountPoint) || b.id - a.id);
    for (const mount of mounts) {
      const failure = await umount(mount.mountPoint);
      if (failure) return { ok: false, detail: `cannot unmount ${mount.mountPoint}: ${failure}` };
      unmounted++;
    }
  }
  const left = mountsAtOrBelow(await readMounts(), dir);
  if (left.length === 0) return { ok: true, unmounted };
  return { ok: false, detail: `still mounted after ${UNMOUNT_ROUNDS} rounds: ${left.map((m) => m.mountPoint).join(', ')}` };
}

function depth(mountPoint: string): number {
  return mountPoint.split('/').length;
}

/** undefined on success, else why it failed. */
async function umount(mountPoint: string): Promise<string | undefined> {
  // --no-canonicalize: the path is the kernel's own, so umount need not resolve (follow) anything.
  // Loaded on first use: execa and its ~110 modules would otherwise sit in the agent's memory from the start.
  const { execa } = await import('execa');
  const result = await execa('umount', ['--no-canonicalize', '--', mountPoint], {
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: UMOUNT_TIMEOUT_MS,
  });
  if (!result.failed) return undefined;
  return result.all?.trim() || errorText(result);
}

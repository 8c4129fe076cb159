// Where one release's repo and the sync's private dirs live (SPEC §7.1). Only Packages/ and repodata/ are inside the
// repo tree: createrepo_c indexes every *.rpm under it, hidden dirs included, so staging and quarantine stay outside
// (but on the same filesystem, so admitting a package is a rename).

import { statSync } from 'node:fs';
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { releaseName, type ReleaseId } from '../plugins/release.js';

export interface ReleaseLayout {
  /** RepoDir/<dist>-<ver>-<arch>: what createrepo_c indexes and the worker reads. */
  readonly targetDir: string;
  readonly packagesDir: string;
  readonly repomdFile: string;
  readonly stagingDir: string;
  readonly quarantineDir: string;
  readonly stateDir: string;
}

export function releaseLayout(repoDir: string, release: ReleaseId): ReleaseLayout {
  const name = releaseName(release);
  const targetDir = join(repoDir, name);
  return {
    targetDir,
    packagesDir: join(targetDir, 'Packages'),
    repomdFile: join(targetDir, 'repodata', 'repomd.xml'),
    stagingDir: join(repoDir, '.retrace-staging', name),
    quarantineDir: join(repoDir, `${name}.quarantine`),
    stateDir: join(repoDir, '.retrace-state', name),
  };
}

export async function createLayout(layout: ReleaseLayout): Promise<void> {
  for (const dir of [layout.packagesDir, layout.stagingDir, layout.quarantineDir, layout.stateDir]) {
    await mkdir(dir, { recursive: true });
  }
}

/** `*.rpm` files directly in `dir` (regular files only: a planted symlink or FIFO is not a package). */
export async function listRpmFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.rpm')).map((entry) => entry.name);
}

/**
 * Moves the *.rpm files lying in the target dir itself (older tools downloaded there) into Packages/, as upstream
 * does. A name Packages/ already holds is left where it is and reported: keeping every version means never
 * replacing a package.
 */
export async function moveStrayPackages(layout: ReleaseLayout): Promise<{ moved: string[]; clashes: string[] }> {
  const moved: string[] = [];
  const clashes: string[] = [];
  for (const name of await listRpmFiles(layout.targetDir)) {
    if (await exists(join(layout.packagesDir, name))) {
      clashes.push(name);
      continue;
    }
    await rename(join(layout.targetDir, name), join(layout.packagesDir, name));
    moved.push(name);
  }
  return { moved, clashes };
}

export interface PackagesSize {
  readonly packages: number;
  readonly bytes: number;
  /** Packages/ mtime when counted: while it is the same, so are the counts. */
  readonly mtimeMs: number;
}

// Packages stat'ed between two turns of the event loop (about 2 ms).
const STAT_SLICE = 1000;

/** Number and total size of the packages in Packages/; `previous` is reused when the dir has not changed since. */
export async function measurePackages(packagesDir: string, previous?: PackagesSize): Promise<PackagesSize> {
  let mtimeMs: number;
  let names: string[];
  try {
    mtimeMs = (await stat(packagesDir)).mtimeMs;
    if (previous?.mtimeMs === mtimeMs) return previous;
    names = await listRpmFiles(packagesDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { packages: 0, bytes: 0, mtimeMs: 0 };
    throw err;
  }
  let packages = 0;
  let bytes = 0;
  for (const [index, name] of names.entries()) {
    // Blocking stats, a few microseconds each (a trip to the fs thread pool apiece took 2 s for 75,000 packages),
    // in slices: the agent's event loop serves in between. A package pruned meanwhile (rawhide) is not counted.
    const stats = statSync(join(packagesDir, name), { throwIfNoEntry: false });
    if (stats !== undefined) {
      packages++;
      bytes += stats.size;
    }
    if (index % STAT_SLICE === STAT_SLICE - 1) await new Promise(setImmediate);
  }
  return { packages, bytes, mtimeMs };
}

/**
 * Whether repodata/ may be out of date: renaming a package into Packages/ (or removing one) moves the dir's mtime
 * past repomd.xml's. Unlike counting this run's changes, it also catches a run that was stopped before createrepo.
 */
export async function repodataStale(layout: ReleaseLayout): Promise<boolean> {
  const [packages, repomd] = await Promise.all([stat(layout.packagesDir), stat(layout.repomdFile).catch(() => undefined)]);
  return repomd === undefined || packages.mtimeMs >= repomd.mtimeMs;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

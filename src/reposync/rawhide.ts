// Rawhide changes daily and would grow without bound, so its repo keeps only the newest KeepRawhideLatest versions
// of each (name, arch) (SPEC §7.2). This is the only place anything is deleted from Packages/.
//
// Upstream compared without the epoch and crashed once any package went over the limit (research §6 step 8).
// Here versions come from the package headers and compare as rpm compares them, epoch included. The http(s) and ftp
// transports apply the same rule (NewestVersions) to the versions the metadata lists, and do not fetch what it
// would delete.

import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { withPackageFile } from '../rpm/package-bytes.js';
import { compareEvr, type Evr } from '../rpm/vercmp.js';
import { listRpmFiles } from './layout.js';

const Tag = { NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, ARCH: 1022, SOURCERPM: 1044 } as const;

// name-version-release.arch.rpm: the conventional file name, used only to find the names that may be over the limit.
const FILE_NAME_RE = /^(?<name>.+)-[^-]+-[^-]+\.(?<arch>[^.]+)\.rpm$/;

export function isRawhide(version: string): boolean {
  return version.toLowerCase() === 'rawhide';
}

interface Nevra extends Evr {
  readonly name: string;
  readonly arch: string;
}

/**
 * The rule itself: the newest `keep` versions of each (name, arch) among those offered. Files with the same EVR
 * (rebuilt or re-signed copies) count as one version, so they stay or go together.
 */
export class NewestVersions {
  readonly #keep: number;
  /** Distinct EVRs, newest first, at most `keep`, by `name.arch`. */
  readonly #groups = new Map<string, Evr[]>();

  constructor(keep: number) {
    this.#keep = keep;
  }

  offer({ name, arch, ...evr }: Nevra): void {
    const key = `${name}.${arch}`;
    const newest = this.#groups.get(key) ?? [];
    this.#groups.set(key, newest);
    const at = newest.findIndex((kept) => compareEvr(evr, kept) >= 0);
    if (at >= 0 && compareEvr(evr, newest[at] as Evr) === 0) return;
    newest.splice(at < 0 ? newest.length : at, 0, { epoch: evr.epoch, version: evr.version, release: evr.release });
    newest.length = Math.min(newest.length, this.#keep);
  }

  /** Whether this version is among the newest `keep` of its (name, arch) offered so far. */
  keeps({ name, arch, ...evr }: Nevra): boolean {
    return (this.#groups.get(`${name}.${arch}`) ?? []).some((kept) => compareEvr(evr, kept) === 0);
  }
}

/** Deletes all but the newest `keep` versions of each (name, arch); returns the file names removed. */
export async function pruneRawhide(packagesDir: string, keep: number, log: Logger): Promise<string[]> {
  // Headers are read only for file-name groups over the limit, so a repo at its steady state costs one readdir.
  const byFileName = new Map<string, string[]>();
  for (const file of await listRpmFiles(packagesDir)) {
    const groups = FILE_NAME_RE.exec(file)?.groups;
    const key = groups ? `${groups.name}.${groups.arch}` : file;
    byFileName.set(key, [...(byFileName.get(key) ?? []), file]);
  }

  const read: { file: string; nevra: Nevra }[] = [];
  for (const files of byFileName.values()) {
    if (files.length <= keep) continue;
    for (const file of files) {
      const nevra = await readNevra(join(packagesDir, file)).catch((err: unknown) => {
        log.warn(`cannot read the header of ${file}, keeping it: ${(err as Error).message}`);
        return undefined;
      });
      if (nevra) read.push({ file, nevra });
    }
  }

  const newest = new NewestVersions(keep);
  for (const { nevra } of read) newest.offer(nevra);
  const removed: string[] = [];
  for (const { file, nevra } of read) {
    if (newest.keeps(nevra)) continue;
    log.info(`Removing ${file}`);
    await unlink(join(packagesDir, file));
    removed.push(file);
  }
  return removed;
}

async function readNevra(path: string): Promise<Nevra> {
  return withPackageFile(path, async ({ layout: { header } }) => {
    const name = header.string(Tag.NAME);
    const version = header.string(Tag.VERSION);
    const release = header.string(Tag.RELEASE);
    if (name === undefined || version === undefined || release === undefined) throw new Error('no name, version or release tag');
    // rpm marks a source package by the absence of SOURCERPM; its ARCH tag is the build host's.
    const arch = header.has(Tag.SOURCERPM) ? (header.string(Tag.ARCH) ?? '') : 'src';
    return { name, arch, epoch: header.number(Tag.EPOCH) ?? 0, version, release };
  });
}

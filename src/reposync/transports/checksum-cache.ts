// Digests of the files in Packages/, kept in the state dir between runs, so a re-sync against changed metadata
// compares a present package with the listed checksum without reading it again (a repo holds tens of GB).
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Checksum, ChecksumType } from '../repomd.js';

interface Entry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  /** Hex digests by type. */
  readonly sums: Partial<Record<ChecksumType, string>>;
}

const FILE_NAME = 'package-checksums.json';

export async function hashFile(file: string, type: ChecksumType): Promise<string> {
  const hash = createHash(type);
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** A file's sha256, as a checksum: what a package without one from metadata is known by. */
export async function sha256Checksum(file: string): Promise<Checksum> {
  return { type: 'sha256', value: await hashFile(file, 'sha256') };
}

export class ChecksumCache {
  readonly #file: string;
  readonly #entries: Map<string, Entry>;
  #dirty = false;

  private constructor(file: string, entries: Map<string, Entry>) {
    this.#file = file;
    this.#entries = entries;
  }

  static async load(stateDir: string): Promise<ChecksumCache> {
    const file = path.join(stateDir, FILE_NAME);
    const text = await readFile(file, 'utf8').catch(() => undefined);
    let entries = new Map<string, Entry>();
    try {
      if (text !== undefined) entries = new Map(Object.entries(JSON.parse(text) as Record<string, Entry>));
    } catch {
      // A damaged cache only costs re-hashing.
    }
    return new ChecksumCache(file, entries);
  }

  /** The digest of `file` (named `name` in Packages/), from the cache when the file has not changed since. */
  async digest(name: string, file: string, stats: Stats, type: ChecksumType): Promise<string> {
    const entry = this.#entries.get(name);
    const fresh = entry !== undefined && entry.size === stats.size && entry.mtimeMs === stats.mtimeMs && entry.ino === stats.ino;
    const cached = fresh ? entry.sums[type] : undefined;
    if (cached !== undefined) return cached;
    const value = await hashFile(file, type);
    this.remember(name, stats, { type, value }, fresh ? entry.sums : {});
    return value;
  }

  remember(name: string, stats: Pick<Stats, 'size' | 'mtimeMs' | 'ino'>, checksum: Checksum, others: Entry['sums'] = {}): void {
    this.#entries.set(name, { size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino, sums: { ...others, [checksum.type]: checksum.value } });
    this.#dirty = true;
  }

  async save(): Promise<void> {
    if (!this.#dirty) return;
    await mkdir(path.dirname(this.#file), { recursive: true });
    const temporary = `${this.#file}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(Object.fromEntries(this.#entries)));
    await rename(temporary, this.#file);
    this.#dirty = false;
  }
}

// A package's bytes for verification, from memory, an open file or a path. Only the headers are held; the payload is
// hashed in one streaming pass, reusing whatever part of it the header read already brought in.
import type { Hash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs';
import { BufferPool } from '../buffer-pool.js';
import { fill, FIRST_READ, parseRpm, readRpmHeaders, RpmFormatError, type ReadAt, type RpmLayout } from './header.js';

export interface RpmPackage {
  readonly layout: RpmLayout;
  /** Feeds bytes [from, end of file) to every hash, reading them once. */
  hashFrom(from: number, hashes: readonly Hash[]): Promise<void>;
  /** Bytes [from, end of file) in memory. */
  bytesFrom(from: number): Promise<Buffer>;
}

const CHUNK = 1024 * 1024;

// First-read buffers are used again (see buffer-pool.ts); a few suffice, one per package verified at the same time.
const firstReads = new BufferPool(8 * FIRST_READ);

export function packageFromBytes(bytes: Buffer): RpmPackage {
  const layout = parseRpm(bytes);
  return {
    layout,
    async hashFrom(from, hashes) {
      const rest = bytes.subarray(from);
      for (const hash of hashes) hash.update(rest);
    },
    async bytesFrom(from) {
      return bytes.subarray(from);
    },
  };
}

/** A package read with `readAt`; `start` is what the caller already read from offset 0. */
export async function packageFromReader(readAt: ReadAt, fileSize: number, start?: Buffer): Promise<RpmPackage> {
  const { layout, prefix } = await readRpmHeaders(readAt, fileSize, start);
  const fromPrefix = (from: number): Buffer => prefix.subarray(Math.min(from, prefix.length));
  return {
    layout,
    async hashFrom(from, hashes) {
      const head = fromPrefix(from);
      for (const hash of hashes) hash.update(head);
      let at = Math.max(from, prefix.length);
      if (at >= fileSize) return;
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, fileSize - at));
      while (at < fileSize) {
        const part = await fill(readAt, chunk.subarray(0, Math.min(chunk.length, fileSize - at)), 0, at);
        for (const hash of hashes) hash.update(part);
        at += part.length;
      }
    },
    async bytesFrom(from) {
      const out = Buffer.allocUnsafe(fileSize - from);
      const head = fromPrefix(from);
      head.copy(out);
      return fill(readAt, out, head.length, from + head.length);
    },
  };
}

/**
 * Opens the package at `path` for `use`, which must not keep the package (or any header) once it settles: its
 * buffer is reused. The first read (up to 256 KiB: the whole of a typical package) is
 * synchronous: from the page cache it takes a few microseconds, far less than the three thread-pool round trips of
 * async open, stat and read, which cost more than verifying the signature. Larger files continue with async reads,
 * so the event loop is never blocked for more than one bounded read.
 */
export async function withPackageFile<T>(path: string, use: (pkg: RpmPackage) => Promise<T>): Promise<T> {
  // O_NONBLOCK: opening a FIFO planted in a mirror must not hang; regular files ignore the flag.
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const buffer = firstReads.take(FIRST_READ);
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new RpmFormatError('not_regular_file', `${path} is not a regular file`);
    const first = buffer.subarray(0, Math.min(stats.size, FIRST_READ));
    const bytesRead = readSync(fd, first, 0, first.length, 0);
    const readAt: ReadAt = (buffer, offset, length, position) =>
      new Promise((resolve, reject) => {
        read(fd, buffer, offset, length, position, (error, count) => (error ? reject(error) : resolve(count)));
      });
    // A short first read means the file shrank after fstat; fill() finds the end and reports the truncation.
    const start = bytesRead === first.length ? first : await fill(readAt, first, bytesRead);
    return await use(await packageFromReader(readAt, stats.size, start));
  } finally {
    closeSync(fd);
    firstReads.give(buffer);
  }
}

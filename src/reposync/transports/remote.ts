// What a metadata-driven transport (http(s), ftp) needs from its protocol: read a small file, download a big one.
import type { ChecksumType } from '../repomd.js';

/** A failed transfer; `retryable` says whether trying again can help (a timeout or a 503 can, a 404 cannot). */
export class RemoteError extends Error {
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean) {
    super(message);
    this.name = 'RemoteError';
    this.retryable = retryable;
  }
}

export interface Downloaded {
  /** Where this transfer started in the file: `have` when it resumed, else 0. */
  readonly resumedAt: number;
  readonly size: number;
  /** Lower-case hex of the whole file, when the transport computed it. */
  readonly digest?: string;
  /**
   * The whole file, when it was held in memory (see `hold`) and **not** written to `dest`: the caller stages it.
   * A buffer from `hold.buffer`. Absent when the file is in `dest`.
   */
  readonly bytes?: Buffer;
}

/** How a transport may hold a download in memory rather than write it (see Remote.download). */
export interface Hold {
  /** The largest download held, in bytes. */
  readonly upTo: number;
  /** Memory for a download of `length` bytes: returned as Downloaded.bytes, or dropped. */
  buffer(length: number): Buffer;
}

export interface Remote {
  /** The whole file (repomd.xml), or a RemoteError. */
  fetch(url: URL, signal: AbortSignal): Promise<Buffer>;
  /**
   * Writes the file at `url` to `dest`. `have` is how many bytes of it `dest` already holds from an earlier attempt
   * (0: none, `dest` may not exist): the rest is asked for and appended if the server can resume, else `dest` is
   * rewritten. Abandons the transfer when no byte has arrived for the repo's timeout. Resolves once the server says
   * the body is complete, with the file's size and, when `digest` names an algorithm and the transport can hash as
   * it writes, the whole file's digest (saving a second read).
   *
   * `hold` lets a transport keep a download that starts at byte 0 and fits in `hold.upTo` in memory instead of
   * writing it, and return it as `bytes` (then without `digest`); one that grows larger, or fails part-way, goes
   * to `dest` as usual, so an interrupted transfer can still be resumed.
   */
  download(url: URL, dest: string, signal: AbortSignal, have: number, digest?: ChecksumType, hold?: Hold): Promise<Downloaded>;
  close(): void;
}

// The work of bringing a package in, on worker threads: for http(s) mirrors the download itself, then hashing it,
// writing it to staging, checking its signature, and linking it into Packages/. On the main thread each of those
// steps is either CPU (the HTTP exchange, digests, RSA) or a round trip to the fs thread pool per call (open,
// write, close, link, lstat, unlink); with thousands of small packages that, not the network, was the limit of an
// initial sync, and one thread cannot use the second core. The rules stay the admitting code's (whole file staged
// and checked first, a link that cannot replace anything, nothing partial in Packages/).
import type { Stats } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerModule } from '../../worker-module.js';
import type { ChecksumType } from '../repomd.js';
import type { KeyringSource, PackageVerdict, RepoOptions } from '../types.js';
import { RemoteError, type Downloaded } from './remote.js';

/** What the checksum cache keeps of a file's stat. */
export type FileIdentity = Pick<Stats, 'size' | 'mtimeMs' | 'ino'>;

/** A package a thread downloaded into memory and wrote to its staging path whole. */
export interface StagedPackage {
  /** Of the whole file, hex (the algorithm asked for). */
  readonly digest: string;
  /** It starts with the RPM lead's magic. */
  readonly lead: boolean;
  /** The verdict of verifyRpmBytes on the bytes, when the thread has keys and the lead is there. */
  readonly verdict?: PackageVerdict;
}

/**
 * A download by a thread: as Remote.download's result; for a package the thread holds in memory (not written to
 * `dest` yet), `stage` has the thread write it to `dest` whole, hash it and verify it. Call it once, promptly.
 */
export type ThreadDownload = Omit<Downloaded, 'bytes'> & { readonly stage?: () => Promise<StagedPackage> };

/** A thread's reply to a fetch: `held` when it keeps the bytes for a 'stage' request naming this fetch. */
type FetchReply = Omit<Downloaded, 'bytes'> & { readonly held?: boolean };

/** What the threads are started with. */
export interface StagerSetup {
  /** The keys to verify packages with; without them no thread verifies. */
  readonly keys?: KeyringSource;
  /** The repo's options, for a thread's own http(s) client. */
  readonly http?: RepoOptions;
}

/** What one thread is started with: the setup, and its share of max_parallel_downloads. */
export interface StagerThreadSetup extends StagerSetup {
  readonly transfers: number;
}

export type StagerRequest =
  | { readonly id: number; readonly op: 'fetch'; readonly url: string; readonly dest: string; readonly have: number; readonly digest: ChecksumType; readonly holdUpTo: number }
  | { readonly id: number; readonly op: 'stage'; readonly target: number }
  | { readonly id: number; readonly op: 'abort'; readonly target: number }
  | { readonly id: number; readonly op: 'link'; readonly from: string; readonly to: string }
  | { readonly id: number; readonly op: 'warm' };

export type StagerReply =
  | { readonly id: number; readonly ok: true; readonly download?: FetchReply; readonly staged?: StagedPackage; readonly identity?: FileIdentity }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code?: string; readonly retryable?: boolean; readonly aborted?: boolean };

// The downloads and digests of one thread, next to the main thread's parsing and bookkeeping: one thread per core.
const MAX_THREADS = 2;

interface Pending {
  readonly resolve: (reply: StagerReply & { ok: true }) => void;
  readonly reject: (error: Error) => void;
}

interface Running {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/** Worker threads, started on first use (or warm()); they keep the process alive only while a step is outstanding. */
export class Stager {
  readonly #setup: StagerSetup;
  readonly #threads: number;
  #running: Running[] = [];
  #nextId = 0;

  constructor(setup: StagerSetup) {
    this.#setup = setup;
    // Each thread with http gets at least one of the max_parallel_downloads transfers.
    this.#threads = Math.max(1, Math.min(MAX_THREADS, availableParallelism(), setup.http?.maxParallelDownloads ?? Infinity));
  }

  /** The threads can download (the setup gave http options). */
  get fetches(): boolean {
    return this.#setup.http !== undefined;
  }

  /**
   * Remote.download of `url` to `dest` on a thread, with the thread's own http(s) client; the threads run their
   * shares of max_parallel_downloads transfers at once and queue the others. A package that fits in
   * `holdUpTo` stays in the thread's memory, to be staged there (see ThreadDownload): the transfer is over (and a
   * caller limiting transfers may start the next) before the CPU work of staging. Failures are RemoteErrors as the
   * client's; an abort rejects with the signal's reason.
   */
  async fetch(url: URL, dest: string, signal: AbortSignal, have: number, digest: ChecksumType, holdUpTo: number): Promise<ThreadDownload> {
    signal.throwIfAborted();
    const running = this.#leastBusy();
    const id = this.#nextId++;
    const onAbort = (): void => void this.#callOn(running, { id: this.#nextId++, op: 'abort', target: id }).catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await this.#callOn(running, { id, op: 'fetch', url: url.href, dest, have, digest, holdUpTo });
      const { held, ...download } = reply.download as FetchReply;
      if (!held) return download;
      const stage = async (): Promise<StagedPackage> => (await this.#callOn(running, { id: this.#nextId++, op: 'stage', target: id })).staged as StagedPackage;
      return { ...download, stage };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Links `from` to `to` (failing with code EEXIST rather than replacing anything), then removes `from`; returns
   * the identity of the linked file. Errors carry the fs error's code.
   */
  async link(from: string, to: string): Promise<FileIdentity> {
    const reply = await this.#callOn(this.#leastBusy(), { id: this.#nextId++, op: 'link', from, to });
    return reply.identity as FileIdentity;
  }

  /**
   * Starts every thread and has each load its keyring, ahead of the first package: that takes tens of ms, which
   * the metadata's download and parse can hide. A keyring that fails to load fails the first fetch instead.
   */
  warm(): void {
    while (this.#running.length < this.#threads) {
      this.#callOn(this.#start(), { id: this.#nextId++, op: 'warm' }).catch(() => {});
    }
  }

  /** Stops the workers; steps still outstanding fail. */
  async close(): Promise<void> {
    const running = this.#running;
    this.#running = [];
    await Promise.all(running.map(({ worker }) => worker.terminate()));
  }

  #callOn({ worker, pending }: Running, request: StagerRequest): Promise<StagerReply & { ok: true }> {
    return new Promise((resolve, reject) => {
      if (pending.size === 0) worker.ref();
      pending.set(request.id, { resolve, reject });
      worker.postMessage(request);
    });
  }

  /** Thread `index`'s share of max_parallel_downloads. */
  #transfersOf(index: number): number {
    const total = this.#setup.http?.maxParallelDownloads ?? 0;
    return Math.floor(total / this.#threads) + (index < total % this.#threads ? 1 : 0);
  }

  #leastBusy(): Running {
    const idle = this.#running.find((running) => running.pending.size === 0);
    if (idle !== undefined) return idle;
    if (this.#running.length < this.#threads) return this.#start();
    return this.#running.reduce((best, running) => (running.pending.size < best.pending.size ? running : best));
  }

  #start(): Running {
    const { url, execArgv } = workerModule('./stager-worker', import.meta.url);
    const workerData: StagerThreadSetup = { ...this.#setup, transfers: this.#transfersOf(this.#running.length) };
    const worker = new Worker(url, { ...(execArgv === undefined ? {} : { execArgv }), workerData, name: 'reposync-stager' });
    const running: Running = { worker, pending: new Map() };
    this.#running.push(running);
    const { pending } = running;
    worker.unref();
    worker.on('message', (reply: StagerReply) => {
      const waiting = pending.get(reply.id);
      if (waiting === undefined) return;
      pending.delete(reply.id);
      if (pending.size === 0) worker.unref();
      if (reply.ok) waiting.resolve(reply);
      else waiting.reject(errorOf(reply));
    });
    const fail = (error: Error): void => {
      this.#running = this.#running.filter((other) => other !== running);
      for (const { reject } of pending.values()) reject(error);
      pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`a staging worker exited (code ${code})`)));
    return running;
  }
}

function errorOf(reply: StagerReply & { ok: false }): Error {
  if (reply.retryable !== undefined) return new RemoteError(reply.message, reply.retryable);
  const error = new Error(reply.message);
  if (reply.aborted) error.name = 'AbortError';
  return Object.assign(error, reply.code === undefined ? {} : { code: reply.code });
}

// The work of bringing a package in, on worker threads: for http(s) mirrors the download itself, then hashing it,
// writing it to staging and checking its signature. On the main thread each of those steps is either CPU (the HTTP
// exchange, digests, RSA) or a round trip to the fs thread pool per call (open, write, close); with thousands of
// small packages that, not the network, was the limit of an initial sync, and one thread cannot use the second
// core. The main thread then links the staged file in: the rules stay the admitting code's (whole file staged and
// checked first, a link that cannot replace anything, nothing partial in Packages/).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerModule } from '../../worker-module.js';
import type { ChecksumType } from '../repomd.js';
import type { SigningKeys } from '../../rpm/signing-keys.js';
import type { KeyringSource, PackageKeys, PackageVerdict, RepoOptions } from '../types.js';
import { RemoteError, type Downloaded } from './remote.js';

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
 * A download by a thread: as Remote.download's result; `staged` when the thread held the package in memory and
 * then wrote it to `dest` whole, hashed it and (with keys) verified it, from those bytes.
 */
export type ThreadDownload = Omit<Downloaded, 'bytes'> & { readonly staged?: StagedPackage };

/** What one thread is started with. */
export interface StagerThreadSetup {
  /** The repo's options, for a thread's own http(s) client. */
  readonly http: RepoOptions;
  /** Where the keys come from, when packages are verified (with keys the main thread sends for each sync). */
  readonly keys?: KeyringSource;
  /** Its share of max_parallel_downloads. */
  readonly transfers: number;
}

export type StagerRequest =
  | { readonly id: number; readonly op: 'fetch'; readonly url: string; readonly dest: string; readonly have: number; readonly digest: ChecksumType; readonly holdUpTo: number }
  | { readonly id: number; readonly op: 'abort'; readonly target: number }
  | { readonly id: number; readonly op: 'warm' }
  /** `warm`: the id of the 'warm' that began the sync these keys are for. */
  | { readonly id: number; readonly op: 'keys'; readonly warm: number; readonly keys?: SigningKeys; readonly error?: string };

export type StagerReply =
  | { readonly id: number; readonly ok: true; readonly download?: ThreadDownload }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code?: string; readonly retryable?: boolean; readonly aborted?: boolean };

// The downloads and digests of one thread, next to the main thread's parsing and bookkeeping: one thread per core.
const MAX_THREADS = 2;

interface Pending {
  readonly resolve: (reply: StagerReply & { ok: true }) => void;
  readonly reject: (error: Error) => void;
}

interface Thread {
  readonly worker: Worker;
  /** Which setup and share it was started with: a parked thread serves only a Stager asking for the same. */
  readonly key: string;
  readonly pending: Map<number, Pending>;
  dead: boolean;
  /** While parked: when it stops. */
  idleTimer?: NodeJS.Timeout;
}

// A thread left idle by a finished sync waits this long for the next one with the same setup: a release's repos
// are synced back to back, and a thread that has already run the code once runs it much faster (its JIT is warm
// and its modules are loaded: an initial sync of 2,000 signed packages takes 0.64 s with new threads, 0.50 s with
// kept ones; bench/RESULTS.md).
const IDLE_MS = 30_000;
const parked = new Map<string, Thread[]>();
// Ids are unique across Stagers: a kept thread serves several.
let nextId = 0;

/** Worker threads, started on first use (or warm()); they keep the process alive only while a step is outstanding. */
export class Stager {
  readonly #http: RepoOptions;
  readonly #keys: PackageKeys | undefined;
  /** Prepared once, for every thread of this Stager. */
  #signingKeys: Promise<SigningKeys> | undefined;
  readonly #threads: number;
  #running: Thread[] = [];

  /** The threads download with `http`, the repo's options; with `keys` they verify what they stage. */
  constructor(http: RepoOptions, keys?: PackageKeys) {
    this.#http = http;
    this.#keys = keys;
    // Each thread gets at least one of the max_parallel_downloads transfers.
    this.#threads = Math.max(1, Math.min(MAX_THREADS, availableParallelism(), http.maxParallelDownloads));
  }

  /**
   * Remote.download of `url` to `dest` on a thread, with the thread's own http(s) client; the threads run their
   * shares of max_parallel_downloads transfers at once and queue the others. A package that fits in
   * `holdUpTo` is held in the thread's memory and staged there (see ThreadDownload), after its transfer has
   * ended, so that the next transfer starts before the CPU work of staging. Failures are RemoteErrors as the
   * client's; an abort rejects with the signal's reason.
   */
  async fetch(url: URL, dest: string, signal: AbortSignal, have: number, digest: ChecksumType, holdUpTo: number): Promise<ThreadDownload> {
    signal.throwIfAborted();
    const thread = this.#leastBusy();
    const id = nextId++;
    const onAbort = (): void => void call(thread, { id: nextId++, op: 'abort', target: id }).catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const reply = await call(thread, { id, op: 'fetch', url: url.href, dest, have, digest, holdUpTo });
      return reply.download as ThreadDownload;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Gets every thread now, each with this sync's keys, ahead of the first package: a new thread takes tens of ms
   * to start, which the metadata's download and parse can hide. Keys that fail to load fail the fetches of the
   * packages to verify instead.
   */
  warm(): void {
    while (this.#live().length < this.#threads) this.#acquire();
  }

  /** Parks the idle threads for the next Stager with this setup (see IDLE_MS); busy ones are stopped. */
  async close(): Promise<void> {
    const running = this.#live();
    this.#running = [];
    await Promise.all(running.map((thread) => (thread.pending.size === 0 ? park(thread) : thread.worker.terminate())));
  }

  #live(): Thread[] {
    this.#running = this.#running.filter((thread) => !thread.dead);
    return this.#running;
  }

  /** Thread `index`'s share of max_parallel_downloads. */
  #transfersOf(index: number): number {
    const total = this.#http.maxParallelDownloads;
    return Math.floor(total / this.#threads) + (index < total % this.#threads ? 1 : 0);
  }

  #leastBusy(): Thread {
    const running = this.#live();
    const idle = running.find((thread) => thread.pending.size === 0);
    if (idle !== undefined) return idle;
    if (running.length < this.#threads) return this.#acquire();
    return running.reduce((best, thread) => (thread.pending.size < best.pending.size ? thread : best));
  }

  /** A kept thread of this setup and share, else a new one; either way it gets the keys of this sync. */
  #acquire(): Thread {
    const workerData: StagerThreadSetup = {
      http: this.#http,
      ...(this.#keys === undefined ? {} : { keys: this.#keys.source }),
      transfers: this.#transfersOf(this.#running.length),
    };
    const key = JSON.stringify(workerData);
    const thread = unpark(key) ?? spawn(key, workerData);
    this.#running.push(thread);
    // Messages arrive in order: the fetches after this 'warm' wait for the 'keys' that follow it. Keys may have
    // changed on disk since the thread's last sync.
    const warm = nextId++;
    call(thread, { id: warm, op: 'warm' }).catch(() => {});
    if (this.#keys !== undefined) {
      // Tagged with the sync: a thread parked and taken by the next sync before these keys came ignores them.
      const keys = (this.#signingKeys ??= this.#keys.signingKeys());
      keys.then(
        (prepared) => call(thread, { id: nextId++, op: 'keys', warm, keys: prepared }),
        (error: unknown) => call(thread, { id: nextId++, op: 'keys', warm, error: `the keys could not be loaded: ${(error as Error).message}` }),
      ).catch(() => {});
    }
    return thread;
  }
}

function call(thread: Thread, request: StagerRequest): Promise<StagerReply & { ok: true }> {
  const { worker, pending } = thread;
  return new Promise((resolve, reject) => {
    if (pending.size === 0) worker.ref();
    pending.set(request.id, { resolve, reject });
    worker.postMessage(request);
  });
}

function spawn(key: string, workerData: StagerThreadSetup): Thread {
  const { url, execArgv } = workerModule('./stager-worker', import.meta.url);
  const worker = new Worker(url, { ...(execArgv === undefined ? {} : { execArgv }), workerData, name: 'reposync-stager' });
  const thread: Thread = { worker, key, pending: new Map(), dead: false };
  const { pending } = thread;
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
    thread.dead = true;
    unpark(key, thread);
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`a staging worker exited (code ${code})`)));
  return thread;
}

function park(thread: Thread): void {
  const list = parked.get(thread.key) ?? [];
  parked.set(thread.key, [...list, thread]);
  thread.idleTimer = setTimeout(() => {
    if (unpark(thread.key, thread) !== undefined) void thread.worker.terminate();
  }, IDLE_MS).unref();
}

/** Takes `which` (or any) parked thread of `key` off the parking list. */
function unpark(key: string, which?: Thread): Thread | undefined {
  const list = parked.get(key) ?? [];
  const thread = which === undefined ? list.find((candidate) => !candidate.dead) : list.find((candidate) => candidate === which);
  if (thread === undefined) return undefined;
  clearTimeout(thread.idleTimer);
  const rest = list.filter((candidate) => candidate !== thread);
  if (rest.length > 0) parked.set(key, rest);
  else parked.delete(key);
  return thread;
}

function errorOf(reply: StagerReply & { ok: false }): Error {
  if (reply.retryable !== undefined) return new RemoteError(reply.message, reply.retryable);
  const error = new Error(reply.message);
  if (reply.aborted) error.name = 'AbortError';
  return Object.assign(error, reply.code === undefined ? {} : { code: reply.code });
}

/** How many threads wait for a next sync (for tests and diagnostics). */
export function parkedThreads(): number {
  let count = 0;
  for (const list of parked.values()) count += list.length;
  return count;
}

/** Stops the threads that wait for a next sync, so that the next one starts new ones. */
export async function stopParkedThreads(): Promise<void> {
  const threads = [...parked.values()].flat();
  parked.clear();
  await Promise.all(threads.map((thread) => {
    clearTimeout(thread.idleTimer);
    return thread.worker.terminate();
  }));
}

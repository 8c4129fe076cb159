// The file work of admitting a package that a transport holds in memory, on a worker thread: hashing it, writing
// it to staging, and linking it into Packages/. On the main thread each of those steps is either CPU (the digest)
// or a round trip to the fs thread pool per call (open, write, close, link, lstat, unlink); with thousands of
// small packages that, not the network, was the limit of an initial sync. The worker does them as plain blocking
// calls, one message per step; the rules stay the admitting code's (whole file staged and checked first, a link
// that cannot replace anything, nothing partial in Packages/).
import type { Stats } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { ChecksumType } from '../repomd.js';

/** What the checksum cache keeps of a file's stat. */
export type FileIdentity = Pick<Stats, 'size' | 'mtimeMs' | 'ino'>;

type Request =
  | { readonly id: number; readonly op: 'stage'; readonly path: string; readonly bytes: Uint8Array; readonly digest: ChecksumType; readonly keep: boolean }
  | { readonly id: number; readonly op: 'link'; readonly from: string; readonly to: string };

type Reply =
  | { readonly id: number; readonly ok: true; readonly digest?: string; readonly bytes?: Uint8Array; readonly identity?: FileIdentity }
  | { readonly id: number; readonly ok: false; readonly message: string; readonly code?: string };

/**
 * The worker's whole program; it runs from its source text (`eval`), so it uses nothing from this module and
 * reaches the builtins through process.getBuiltinModule.
 */
function serve(): void {
  const { parentPort } = process.getBuiltinModule('node:worker_threads');
  const fs = process.getBuiltinModule('node:fs');
  const crypto = process.getBuiltinModule('node:crypto');
  if (parentPort === null) return;
  parentPort.on('message', (request: Request) => {
    let reply: Reply;
    try {
      if (request.op === 'stage') {
        const digest = crypto.createHash(request.digest).update(request.bytes).digest('hex');
        fs.writeFileSync(request.path, request.bytes);
        reply = { id: request.id, ok: true, digest, ...(request.keep ? { bytes: request.bytes } : {}) };
      } else {
        // Never replaces anything: EEXIST goes back to the caller, which compares the two files.
        fs.linkSync(request.from, request.to);
        const { size, mtimeMs, ino } = fs.lstatSync(request.to);
        fs.unlinkSync(request.from);
        reply = { id: request.id, ok: true, identity: { size, mtimeMs, ino } };
      }
    } catch (error) {
      const { message, code } = error as NodeJS.ErrnoException;
      reply = { id: request.id, ok: false, message: String(message), ...(code === undefined ? {} : { code }) };
    }
    // The bytes go back as they came, moved rather than copied.
    const buffer = request.op === 'stage' && request.keep ? request.bytes.buffer : undefined;
    parentPort.postMessage(reply, buffer instanceof ArrayBuffer ? [buffer] : []);
  });
}

const SOURCE = `(${serve.toString()})();`;

interface Pending {
  readonly resolve: (reply: Reply & { ok: true }) => void;
  readonly reject: (error: Error) => void;
}

interface Running {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

/** One worker, started on first use; it keeps the process alive only while a step is outstanding. */
export class Stager {
  #running: Running | undefined;
  #nextId = 0;

  /**
   * Writes `bytes` to `path` (created or truncated) and returns their digest, hex, and with `keep` the bytes. When
   * `bytes` fill a whole ArrayBuffer, that buffer is moved to the worker (and back with `keep`) rather than
   * copied: the caller must not use the bytes it passed any more, only the ones returned.
   */
  async stage(path: string, bytes: Buffer, digest: ChecksumType, keep: boolean): Promise<{ digest: string; bytes?: Buffer }> {
    const movable = bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const request: Request = { id: this.#nextId++, op: 'stage', path, bytes: movable ? new Uint8Array(bytes.buffer) : bytes, digest, keep };
    const reply = await this.#call(request, movable ? [bytes.buffer as ArrayBuffer] : []);
    const back = reply.bytes;
    return { digest: reply.digest as string, ...(back === undefined ? {} : { bytes: Buffer.from(back.buffer, back.byteOffset, back.byteLength) }) };
  }

  /**
   * Links `from` to `to` (failing with code EEXIST rather than replacing anything), then removes `from`; returns
   * the identity of the linked file. Errors carry the fs error's code.
   */
  async link(from: string, to: string): Promise<FileIdentity> {
    const reply = await this.#call({ id: this.#nextId++, op: 'link', from, to });
    return reply.identity as FileIdentity;
  }

  /** Stops the worker; steps still outstanding fail. */
  async close(): Promise<void> {
    const running = this.#running;
    this.#running = undefined;
    if (running !== undefined) await running.worker.terminate();
  }

  #call(request: Request, transfer: ArrayBuffer[] = []): Promise<Reply & { ok: true }> {
    const { worker, pending } = (this.#running ??= this.#start());
    return new Promise((resolve, reject) => {
      if (pending.size === 0) worker.ref();
      pending.set(request.id, { resolve, reject });
      worker.postMessage(request, transfer);
    });
  }

  #start(): Running {
    const worker = new Worker(SOURCE, { eval: true, name: 'reposync-stager' });
    const running: Running = { worker, pending: new Map() };
    const { pending } = running;
    worker.unref();
    worker.on('message', (reply: Reply) => {
      const waiting = pending.get(reply.id);
      if (waiting === undefined) return;
      pending.delete(reply.id);
      if (pending.size === 0) worker.unref();
      if (reply.ok) waiting.resolve(reply);
      else waiting.reject(Object.assign(new Error(reply.message), reply.code === undefined ? {} : { code: reply.code }));
    });
    const fail = (error: Error): void => {
      if (this.#running === running) this.#running = undefined;
      for (const { reject } of pending.values()) reject(error);
      pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the staging worker exited (code ${code})`)));
    return running;
  }
}

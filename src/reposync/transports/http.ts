// http(s):// mirrors through our own HTTP/1.1 client (http1.ts, for its per-request cost): sslverify is
// rejectUnauthorized, sslcacert the CA, `proxy` an http:// proxy, and `timeout` the idle timeout, which is exactly
// dnf's (no progress for N s).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { VERSION } from '../../version.js';
import type { RepoOptions } from '../types.js';
import { Http1Client, IdleTimeoutError, type Http1Response } from './http1.js';
import { RemoteError, type Hold, type Remote } from './remote.js';

const MAX_REDIRECTS = 5;
// repomd.xml is a few KiB; anything this big is not one.
const MAX_FETCH_BYTES = 16 * 1024 * 1024;
// Bytes of a download held before they are written.
const FLUSH_BYTES = 1024 * 1024;

export async function httpRemote(options: RepoOptions): Promise<Remote> {
  const ca = options.sslcacert === undefined ? undefined : await readFile(options.sslcacert);
  const client = new Http1Client({
    idleMs: options.timeoutSeconds * 1000,
    rejectUnauthorized: options.sslverify,
    ...(ca === undefined ? {} : { ca }),
    ...(options.proxy === undefined ? {} : { proxy: proxyUrl(options.proxy) }),
    userAgent: `retrace-server-agent/${VERSION}`,
  });

  /** A response to GET `url` (redirects followed) whose status is one of `accept`. */
  const get = async (url: URL, headers: Record<string, string>, signal: AbortSignal, accept: readonly number[]): Promise<Http1Response> => {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      if (current.protocol !== 'http:' && current.protocol !== 'https:') throw new RemoteError(`cannot follow ${current.href}: not http(s)`, false);
      const response = await client.get(current, headers, signal).catch((error: unknown) => {
        throw asRemoteError(error, current);
      });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== undefined) {
        response.discard();
        current = new URL(location, current);
        continue;
      }
      if (accept.includes(response.status)) return response;
      response.discard();
      throw new RemoteError(`HTTP ${response.status} for ${current.href}`, response.status >= 500 || response.status === 408 || response.status === 429);
    }
    throw new RemoteError(`more than ${MAX_REDIRECTS} redirects from ${url.href}`, false);
  };

  return {
    async fetch(url, signal) {
      const response = await get(url, {}, signal, [200]);
      const chunks: Buffer[] = [];
      let length = 0;
      try {
        await response.body((chunk) => {
          length += chunk.length;
          if (length > MAX_FETCH_BYTES) throw new RemoteError(`${url.href} is larger than ${MAX_FETCH_BYTES} bytes`, false);
          chunks.push(Buffer.from(chunk));
        });
      } catch (error) {
        throw asRemoteError(error, url);
      }
      return Buffer.concat(chunks);
    },

    async download(url, dest, signal, have, digest, hold?: Hold) {
      const response = await get(url, have > 0 ? { Range: `bytes=${have}-` } : {}, signal, have > 0 ? [200, 206, 416] : [200]);
      // 416: what we have is not a prefix of the file (the file shrank, or we have it all): start over next time.
      if (response.status === 416) {
        response.discard();
        await rm(dest, { force: true });
        throw new RemoteError(`HTTP 416 for a range from ${have} of ${url.href}`, true);
      }
      const resumedAt = response.status === 206 && contentRangeStart(response) === have ? have : 0;
      if (response.status === 206 && resumedAt === 0) {
        response.discard();
        await rm(dest, { force: true });
        throw new RemoteError(`unexpected Content-Range ${response.headers.get('content-range')} for ${url.href}`, true);
      }
      const hash = digest === undefined ? undefined : createHash(digest);
      // The kept start of the file is hashed first, so the digest covers the whole file.
      if (hash !== undefined && resumedAt > 0) await pipeline(createReadStream(dest, { end: resumedAt - 1 }), hash, { end: false });
      let size = resumedAt;
      // A fresh download that fits in hold.upTo stays in memory and is handed back whole: no file operations at all
      // here, and the caller stages it with one write (and may verify these bytes rather than read the file back).
      // It goes to the file once it outgrows hold.upTo or fails part-way (the start is kept for a resume).
      // With its length announced it is copied straight into one buffer of that size.
      const announced = Number(response.headers.get('content-length') ?? NaN);
      const holdUpTo = hold?.upTo ?? 0;
      let holding = resumedAt === 0 && holdUpTo > 0 && !(announced > holdUpTo);
      let whole = holding && Number.isSafeInteger(announced) ? hold?.buffer(announced) : undefined;
      let filled = 0;
      let handle: FileHandle | undefined;
      // Chunks are gathered and written together: a write stream's per-chunk writes, each a trip to the fs thread
      // pool, made the whole sync twice as slow (measured, 2,000 packages of 106 KiB on tmpfs).
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      // What `whole` holds so far becomes the first pending chunk.
      const spill = (): void => {
        if (whole === undefined) return;
        pending = [whole.subarray(0, filled)];
        pendingBytes = filled;
        whole = undefined;
      };
      const flush = async (): Promise<void> => {
        handle ??= await open(dest, resumedAt > 0 ? 'a' : 'w');
        const { bytesWritten } = await handle.writev(pending);
        if (bytesWritten !== pendingBytes) throw new Error(`short write to ${dest}: ${bytesWritten} of ${pendingBytes} bytes`);
        pending = [];
        pendingBytes = 0;
      };
      try {
        // An early end of the connection rejects, never passes for a complete body.
        await response.body((chunk) => {
          size += chunk.length;
          if (whole !== undefined && filled + chunk.length <= whole.length) {
            filled += chunk.copy(whole, filled);
            return undefined;
          }
          spill();
          if (!holding) hash?.update(chunk);
          // A copy: the client reads into the chunk's memory again.
          pending.push(Buffer.from(chunk));
          pendingBytes += chunk.length;
          if (holding ? pendingBytes > holdUpTo : pendingBytes >= FLUSH_BYTES) {
            if (holding) for (const held of pending) hash?.update(held);
            holding = false;
            return flush();
          }
          return undefined;
        });
        // Not hashed here: the caller hashes the bytes where it stages them.
        if (holding && whole !== undefined && filled === whole.length) return { resumedAt, size, bytes: whole };
        spill();
        if (holding && hold !== undefined) return { resumedAt, size, bytes: gathered(pending, hold.buffer(pendingBytes)) };
        // Also creates an empty file for an empty body.
        if (pendingBytes > 0 || handle === undefined) await flush();
      } catch (error) {
        // What did arrive is a prefix of the file: keep it for the next attempt to resume from.
        spill();
        if (pendingBytes > 0) await flush().catch(() => {});
        throw asRemoteError(error, url);
      } finally {
        await handle?.close();
      }
      return { resumedAt, size, ...(hash === undefined ? {} : { digest: hash.digest('hex') }) };
    },

    close() {
      client.close();
    },
  };
}

/** `chunks` copied one after the other into `into`, which is as long as they are together. */
function gathered(chunks: readonly Buffer[], into: Buffer): Buffer {
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(into, offset);
  return into;
}

function contentRangeStart(response: Http1Response): number | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
  return match === null ? undefined : Number(match[1]);
}

/** dnf's `proxy`: an http:// URL, the scheme optional as in libcurl. */
function proxyUrl(proxy: string): URL {
  const url = new URL(proxy.includes('://') ? proxy : `http://${proxy}`);
  if (url.protocol !== 'http:') throw new Error(`proxy ${proxy}: only http:// proxies are supported`);
  return url;
}

// TLS verification failures are not transient: retrying cannot fix a certificate.
const PERMANENT_CODES = /^(ERR_TLS_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY)_)/;

function asRemoteError(error: unknown, url: URL): Error {
  if (error instanceof RemoteError) return error;
  if (!(error instanceof Error)) return new RemoteError(`${String(error)} for ${url.href}`, true);
  if (error.name === 'AbortError') return error;
  // The client's errors do not name the URL; a timeout is worth another try.
  if (error instanceof IdleTimeoutError) return new RemoteError(`${error.message} for ${url.href}`, true);
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return new RemoteError(`${error.message}${code && !error.message.includes(code) ? ` (${code})` : ''} for ${url.href}`, !PERMANENT_CODES.test(code));
}

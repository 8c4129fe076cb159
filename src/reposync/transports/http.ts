// http(s):// mirrors through node:http/https rather than fetch: Node's fetch (undici) takes no per-request TLS
// options without the undici package, while an https.Agent takes sslverify (rejectUnauthorized), sslcacert (ca),
// the proxy (proxyEnv, Node ≥ 24.5) and a socket idle timeout, which is exactly dnf's `timeout` (no progress for N s).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm, type FileHandle } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { RepoOptions } from '../types.js';
import { RemoteError, type Remote } from './remote.js';

const MAX_REDIRECTS = 5;
// repomd.xml is a few KiB; anything this big is not one.
const MAX_FETCH_BYTES = 16 * 1024 * 1024;
// Bytes of a download held before they are written.
const FLUSH_BYTES = 1024 * 1024;

export async function httpRemote(options: RepoOptions): Promise<Remote> {
  const ca = options.sslcacert === undefined ? undefined : await readFile(options.sslcacert);
  const proxyEnv = options.proxy === undefined ? undefined : { HTTP_PROXY: options.proxy, HTTPS_PROXY: options.proxy };
  const shared = { keepAlive: true, maxSockets: options.maxParallelDownloads + 1, ...(proxyEnv ? { proxyEnv } : {}) };
  const agents = {
    'http:': new http.Agent(shared),
    'https:': new https.Agent({ ...shared, rejectUnauthorized: options.sslverify, ...(ca ? { ca } : {}) }),
  };
  const idleMs = options.timeoutSeconds * 1000;

  /** A response to GET `url` (redirects followed) whose status is one of `accept`. */
  const get = async (url: URL, headers: Record<string, string>, signal: AbortSignal, accept: readonly number[]): Promise<IncomingMessage> => {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await request(current, headers, signal);
      const location = response.headers.location;
      if (response.statusCode !== undefined && response.statusCode >= 300 && response.statusCode < 400 && location !== undefined) {
        response.resume();
        current = new URL(location, current);
        continue;
      }
      const status = response.statusCode ?? 0;
      if (accept.includes(status)) return response;
      response.resume();
      throw new RemoteError(`HTTP ${status} for ${current.href}`, status >= 500 || status === 408 || status === 429);
    }
    throw new RemoteError(`more than ${MAX_REDIRECTS} redirects from ${url.href}`, false);
  };

  const request = (url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<IncomingMessage> => {
    const agent = url.protocol === 'https:' ? agents['https:'] : url.protocol === 'http:' ? agents['http:'] : undefined;
    if (agent === undefined) return Promise.reject(new RemoteError(`cannot follow ${url.href}: not http(s)`, false));
    return new Promise((resolve, reject) => {
      const client = url.protocol === 'https:' ? https : http;
      let response: IncomingMessage | undefined;
      const req = client.get(url, { agent, headers, signal, timeout: idleMs }, (res) => {
        response = res;
        resolve(res);
      });
      // The socket timeout fires after idleMs without a byte in either direction, during the body too; the
      // response gets the same error, or whoever reads the body would only see 'aborted'.
      req.on('timeout', () => {
        const error = new RemoteError(`no data for ${options.timeoutSeconds} s from ${url.href}`, true);
        response?.destroy(error);
        req.destroy(error);
      });
      req.on('error', (error) => reject(asRemoteError(error, url)));
    });
  };

  return {
    async fetch(url, signal) {
      const response = await get(url, {}, signal, [200]);
      const chunks: Buffer[] = [];
      let length = 0;
      try {
        for await (const chunk of response as AsyncIterable<Buffer>) {
          length += chunk.length;
          if (length > MAX_FETCH_BYTES) throw new RemoteError(`${url.href} is larger than ${MAX_FETCH_BYTES} bytes`, false);
          chunks.push(chunk);
        }
      } catch (error) {
        response.destroy();
        throw asRemoteError(error, url);
      }
      return Buffer.concat(chunks);
    },

    async download(url, dest, signal, have, digest, holdUpTo = 0) {
      const response = await get(url, have > 0 ? { Range: `bytes=${have}-` } : {}, signal, have > 0 ? [200, 206, 416] : [200]);
      // 416: what we have is not a prefix of the file (the file shrank, or we have it all): start over next time.
      if (response.statusCode === 416) {
        response.resume();
        await rm(dest, { force: true });
        throw new RemoteError(`HTTP 416 for a range from ${have} of ${url.href}`, true);
      }
      const resumedAt = response.statusCode === 206 && contentRangeStart(response) === have ? have : 0;
      if (response.statusCode === 206 && resumedAt === 0) {
        response.resume();
        await rm(dest, { force: true });
        throw new RemoteError(`unexpected Content-Range ${response.headers['content-range']} for ${url.href}`, true);
      }
      const hash = digest === undefined ? undefined : createHash(digest);
      // The kept start of the file is hashed first, so the digest covers the whole file.
      if (hash !== undefined && resumedAt > 0) await pipeline(createReadStream(dest, { end: resumedAt - 1 }), hash, { end: false });
      let size = resumedAt;
      // A fresh download that fits in holdUpTo stays in memory and is handed back whole: no file operations at all
      // here, and the caller stages it with one write (and may verify these bytes rather than read the file back).
      // It goes to the file once it outgrows holdUpTo or fails part-way (the start is kept for a resume).
      const announced = Number(response.headers['content-length'] ?? NaN);
      let holding = resumedAt === 0 && holdUpTo > 0 && !(announced > holdUpTo);
      let handle: FileHandle | undefined;
      // Chunks are gathered and written together: a write stream's per-chunk writes, each a trip to the fs thread
      // pool, made the whole sync twice as slow (measured, 2,000 packages of 106 KiB on tmpfs).
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async (): Promise<void> => {
        handle ??= await open(dest, resumedAt > 0 ? 'a' : 'w');
        const { bytesWritten } = await handle.writev(pending);
        if (bytesWritten !== pendingBytes) throw new Error(`short write to ${dest}: ${bytesWritten} of ${pendingBytes} bytes`);
        pending = [];
        pendingBytes = 0;
      };
      try {
        // An early close of the connection ends this loop with an error ('aborted'), never as a complete body.
        for await (const chunk of response as AsyncIterable<Buffer>) {
          if (!holding) hash?.update(chunk);
          size += chunk.length;
          pending.push(chunk);
          pendingBytes += chunk.length;
          if (holding ? pendingBytes > holdUpTo : pendingBytes >= FLUSH_BYTES) {
            holding = false;
            for (const held of pending) hash?.update(held);
            await flush();
          }
        }
        // Not hashed here: the caller hashes the bytes where it stages them.
        if (holding) return { resumedAt, size, bytes: wholeBuffer(pending, pendingBytes) };
        // Also creates an empty file for an empty body.
        if (pendingBytes > 0 || handle === undefined) await flush();
      } catch (error) {
        // What did arrive is a prefix of the file: keep it for the next attempt to resume from.
        if (pendingBytes > 0) await flush().catch(() => {});
        throw asRemoteError(error, url);
      } finally {
        await handle?.close();
      }
      return { resumedAt, size, ...(hash === undefined ? {} : { digest: hash.digest('hex') }) };
    },

    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

/** The chunks in a buffer of their own (not a slice of a pooled or shared one), so it can be handed on freely. */
function wholeBuffer(chunks: readonly Buffer[], length: number): Buffer {
  const whole = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const chunk of chunks) offset += chunk.copy(whole, offset);
  return whole;
}

function contentRangeStart(response: IncomingMessage): number | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers['content-range'] ?? '');
  return match === null ? undefined : Number(match[1]);
}

// TLS verification failures are not transient: retrying cannot fix a certificate.
const PERMANENT_CODES = /^(ERR_TLS_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY)_)/;

function asRemoteError(error: unknown, url: URL): Error {
  if (error instanceof RemoteError) return error;
  if (!(error instanceof Error)) return new RemoteError(`${String(error)} for ${url.href}`, true);
  if (error.name === 'AbortError') return error;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return new RemoteError(`${error.message}${code && !error.message.includes(code) ? ` (${code})` : ''} for ${url.href}`, !PERMANENT_CODES.test(code));
}

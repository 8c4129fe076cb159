// A static file server on loopback with injectable faults, for testing clients against misbehaving mirrors.
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOOPBACK } from './daemons.js';

export type HttpFault =
  /** Answer with this status instead of the file. */
  | { readonly kind: 'status'; readonly status: number }
  /** Send the full Content-Length, then only afterBytes of the body, then close the connection. */
  | { readonly kind: 'truncate'; readonly afterBytes: number }
  /** Send headers and afterBytes of the body, then nothing until the client gives up or the server stops. */
  | { readonly kind: 'stall'; readonly afterBytes: number }
  /** Wait delayMs before answering normally. */
  | { readonly kind: 'slow'; readonly delayMs: number }
  /** Serve the body with the byte at body offset atByte (default 0) inverted. */
  | { readonly kind: 'corrupt'; readonly atByte?: number };

/** A glob matched against the decoded URL path (which starts with '/', e.g. `**\/*.rpm`), or a predicate on it. */
export type PathMatch = string | ((urlPath: string) => boolean);

export interface FaultRule {
  readonly match: PathMatch;
  readonly fault: HttpFault;
  /** Apply to this many matching requests only, then serve normally (for retry tests); default: every one. */
  readonly times?: number;
}

export interface RecordedRequest {
  readonly method: string;
  /** Decoded URL path, without the query. */
  readonly path: string;
  readonly range?: string;
}

export interface HttpServer {
  /** `http://127.0.0.1:PORT/` */
  readonly baseUrl: string;
  readonly port: number;
  /** Every request so far, in arrival order. */
  readonly requests: ReadonlyArray<RecordedRequest>;
  /** The newest matching rule wins. */
  setFault(match: PathMatch, fault: HttpFault, options?: { readonly times?: number }): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

export interface HttpServerOptions {
  readonly root: string;
  readonly faults?: ReadonlyArray<FaultRule>;
}

interface ActiveRule {
  readonly matches: (urlPath: string) => boolean;
  readonly fault: HttpFault;
  remaining: number;
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const root = path.resolve(options.root);
  const requests: RecordedRequest[] = [];
  let rules: ActiveRule[] = [];
  const sockets = new Set<Socket>();
  // Aborted by stop(), so that slow responses stop waiting.
  const stopping = new AbortController();

  const setFault = (match: PathMatch, fault: HttpFault, times = Infinity): void => {
    const matches = typeof match === 'string' ? (urlPath: string) => path.posix.matchesGlob(urlPath, match) : match;
    rules.unshift({ matches, fault, remaining: times });
  };
  const takeFault = (urlPath: string): HttpFault | undefined => {
    const rule = rules.find((candidate) => candidate.matches(urlPath));
    if (rule === undefined) return undefined;
    rule.remaining--;
    if (rule.remaining <= 0) rules = rules.filter((candidate) => candidate !== rule);
    return rule.fault;
  };
  for (const rule of options.faults ?? []) setFault(rule.match, rule.fault, rule.times);

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      // The client went away or the server is stopping; a half-sent response cannot be repaired.
      if (res.headersSent) res.destroy();
      else sendStatus(res, 500);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const urlPath = decodedPath(req.url ?? '/');
    const method = req.method ?? 'GET';
    const range = req.headers.range;
    requests.push(range === undefined ? { method, path: urlPath ?? '' } : { method, path: urlPath ?? '', range });
    if (urlPath === undefined) return sendStatus(res, 400);
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendStatus(res, 405);
    }
    const fault = takeFault(urlPath);
    if (fault?.kind === 'slow') await sleep(fault.delayMs, undefined, { signal: stopping.signal });
    if (fault?.kind === 'status') return sendStatus(res, fault.status);

    // normalize() of an absolute path never climbs above '/', so the join stays inside root.
    const file = path.join(root, path.posix.normalize(urlPath));
    const info = await stat(file).catch(() => undefined);
    if (info === undefined) return sendStatus(res, 404);
    if (info.isDirectory()) {
      if (!urlPath.endsWith('/')) {
        // Relative links in the listing only resolve against a URL ending in '/'.
        res.setHeader('Location', `${encodeURI(urlPath)}/`);
        return sendStatus(res, 301);
      }
      return sendBody(res, 'text/html; charset=utf-8', Buffer.from(await listing(file, urlPath)));
    }
    if (!info.isFile()) return sendStatus(res, 404);

    const byteRange = parseRange(range, info.size);
    if (byteRange === 'unsatisfiable') {
      res.setHeader('Content-Range', `bytes */${info.size}`);
      return sendStatus(res, 416);
    }
    const { start, end } = byteRange ?? { start: 0, end: info.size - 1 };
    res.writeHead(byteRange === undefined ? 200 : 206, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': end - start + 1,
      'Accept-Ranges': 'bytes',
      'Last-Modified': info.mtime.toUTCString(),
      ...(byteRange === undefined ? {} : { 'Content-Range': `bytes ${start}-${end}/${info.size}` }),
    });
    // createReadStream rejects the empty range an empty file gives.
    if (method === 'HEAD' || info.size === 0) return void res.end();

    switch (fault?.kind) {
      case 'corrupt': {
        const body = await readRange(file, start, end);
        const at = fault.atByte ?? 0;
        if (at < body.length) body[at] = (body[at] ?? 0) ^ 0xff;
        return void res.end(body);
      }
      case 'truncate':
      case 'stall': {
        res.flushHeaders();
        const partial = await readRange(file, start, Math.min(end, start + fault.afterBytes - 1));
        if (partial.length > 0) res.write(partial);
        // end() flushes what was written before the connection goes; a stalled socket waits for stop().
        const socket = res.socket;
        if (fault.kind === 'truncate') socket?.end(() => socket.destroy());
        return;
      }
      default:
        return pipeline(createReadStream(file, { start, end }), res);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address for the HTTP server');

  return {
    baseUrl: `http://${LOOPBACK}:${address.port}/`,
    port: address.port,
    requests,
    setFault: (match, fault, faultOptions) => setFault(match, fault, faultOptions?.times),
    clearFaults: () => void (rules = []),
    async stop() {
      stopping.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

function decodedPath(rawUrl: string): string | undefined {
  try {
    const decoded = decodeURIComponent(new URL(rawUrl, 'http://localhost').pathname);
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}

function sendStatus(res: ServerResponse, status: number): void {
  sendBody(res, 'text/plain; charset=utf-8', Buffer.from(`${status} ${http.STATUS_CODES[status] ?? ''}\n`), status);
}

// node:http drops the body of a response to HEAD by itself.
function sendBody(res: ServerResponse, contentType: string, body: Buffer, status = 200): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': body.length });
  res.end(body);
}

/** A single `bytes=` range (RFC 9110 §14.1.2); other forms are ignored, which the RFC allows. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    return suffix === 0 || size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return undefined;
  return start >= size ? 'unsatisfiable' : { start, end };
}

async function readRange(file: string, start: number, end: number): Promise<Buffer> {
  const length = Math.max(0, end - start + 1);
  const handle = await open(file);
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(length), 0, length, start);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function listing(dir: string, urlPath: string): Promise<string> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  const links = entries.map((entry) => {
    const suffix = entry.isDirectory() ? '/' : '';
    return `<a href="${encodeURIComponent(entry.name)}${suffix}">${escapeHtml(entry.name)}${suffix}</a>`;
  });
  const title = `Index of ${escapeHtml(urlPath)}`;
  return `<html><head><title>${title}</title></head><body><h1>${title}</h1><hr><pre>\n<a href="../">../</a>\n${links.join('\n')}\n</pre><hr></body></html>\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

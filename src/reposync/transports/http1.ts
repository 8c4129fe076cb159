// A small HTTP/1.1 client on net/tls sockets: what a mirror download needs and no more. GET only, keep-alive
// connections per origin, bodies framed by Content-Length, chunked or the end of the connection, TLS with a CA
// and rejectUnauthorized, an http proxy (absolute-form requests for http, CONNECT for https), an idle timeout,
// abort.
//
// Why not node:http: it costs ~100 µs of CPU per request (ClientRequest, IncomingMessage, the agent's
// bookkeeping). With thousands of packages of ~100 KiB that was 0.2 s of a 0.35 s download loop on these 2 cores,
// where this client and curl need 0.05 s (bench/reposync-initial.ts).
import net from 'node:net';
import tls from 'node:tls';

export interface Http1ClientOptions {
  /** No byte for this long while a request is outstanding: the request fails with an IdleTimeoutError. */
  readonly idleMs: number;
  readonly rejectUnauthorized: boolean;
  readonly ca?: Buffer;
  /** An http:// proxy every request goes through. */
  readonly proxy?: URL;
  readonly userAgent: string;
}

export interface Http1Response {
  readonly status: number;
  /** Names in lower case; a repeated header's values joined with ', '. */
  readonly headers: ReadonlyMap<string, string>;
  /**
   * Hands the body to `onChunk` as it arrives; while a promise onChunk returned is pending, reading pauses. A chunk
   * is valid only during the call: the connection may read into the same memory next, so keep a copy.
   * Resolves once the body is complete by its framing, rejects when the connection ends or fails before.
   * Call it once, or discard().
   */
  body(onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void>;
  /** The body is not wanted: the connection is closed rather than read to its end. */
  discard(): void;
}

export class IdleTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdleTimeoutError';
  }
}

/** The server broke the protocol: unparsable head or chunk framing, an oversized head. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

const MAX_HEAD_BYTES = 64 * 1024;
const READ_BUFFER_BYTES = 128 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

export class Http1Client {
  readonly #options: Http1ClientOptions;
  /** Idle keep-alive connections by origin (`https://host:port`). */
  readonly #idle = new Map<string, Connection[]>();
  readonly #open = new Set<Connection>();
  #closed = false;

  constructor(options: Http1ClientOptions) {
    this.#options = options;
  }

  /** GET `url`; resolves with the response head, the body still to be read (body() or discard()). */
  async get(url: URL, headers: Readonly<Record<string, string>>, signal: AbortSignal): Promise<Http1Response> {
    signal.throwIfAborted();
    if (this.#closed) throw new Error('the HTTP client is closed');
    const origin = `${url.protocol}//${url.host}`;
    const reused = this.#idle.get(origin)?.pop();
    if (reused !== undefined) {
      try {
        return await reused.request(url, headers, signal, this.#options);
      } catch (error) {
        // A kept connection the server closed meanwhile fails before any byte of a response: GET again on a new one.
        if (!(error instanceof StaleConnection)) throw error;
      }
    }
    const connection = new Connection(await connect(url, this.#options, signal), (done) => this.#release(origin, done));
    this.#open.add(connection);
    return connection.request(url, headers, signal, this.#options);
  }

  /** Closes every connection; outstanding requests fail. */
  close(): void {
    this.#closed = true;
    for (const connection of [...this.#open]) connection.close(new Error('the HTTP client was closed'));
    this.#open.clear();
    this.#idle.clear();
  }

  #release(origin: string, connection: Connection): void {
    if (connection.destroyed || this.#closed) {
      this.#open.delete(connection);
      const idle = this.#idle.get(origin);
      const at = idle?.indexOf(connection) ?? -1;
      if (at >= 0) idle?.splice(at, 1);
      return;
    }
    let idle = this.#idle.get(origin);
    if (idle === undefined) this.#idle.set(origin, (idle = []));
    idle.push(connection);
  }
}

/** A kept-alive connection failed before the response began: safe to send the GET again on a new one. */
class StaleConnection extends Error {}

type Framing = { readonly kind: 'length'; remaining: number } | { readonly kind: 'chunked'; readonly decoder: ChunkedDecoder } | { readonly kind: 'close' };

/** What the connection passes on to the request in progress. */
interface Exchange {
  data(chunk: Buffer): void;
  timeout(): void;
  ended(error: Error | undefined): void;
}

/** One socket, one request at a time. */
class Connection {
  readonly #socket: net.Socket;
  readonly #release: (connection: Connection) => void;
  #used = false;
  /** Bytes received while no exchange takes them (an idle connection should get none). */
  #pending: Buffer[] = [];
  #exchange: Exchange | undefined;
  destroyed = false;

  constructor({ socket, onBytes }: Opened, release: (connection: Connection) => void) {
    this.#socket = socket;
    this.#release = release;
    socket.setNoDelay(true);
    onBytes((chunk) => {
      if (this.#exchange === undefined) this.#pending.push(Buffer.from(chunk));
      else this.#exchange.data(chunk);
    });
    socket.on('timeout', () => this.#exchange?.timeout());
    const ended = (error?: Error): void => {
      if (this.destroyed) return;
      this.destroy();
      if (this.#exchange === undefined) this.#release(this);
      else this.#exchange.ended(error);
    };
    socket.on('end', () => ended());
    socket.on('error', ended);
    socket.on('close', () => ended());
  }

  destroy(): void {
    this.destroyed = true;
    this.#socket.destroy();
  }

  /** Closes the connection; a request in progress fails with `error`. */
  close(error: Error): void {
    if (this.destroyed) return;
    this.destroy();
    this.#exchange?.ended(error);
  }

  /** Ends the exchange in progress; the connection goes back to the client, to be kept or dropped. */
  #done(keep: boolean): void {
    this.#exchange = undefined;
    this.#socket.setTimeout(0);
    if (!keep || this.#pending.length > 0) this.destroy();
    else this.#socket.resume();
    this.#release(this);
  }

  request(url: URL, headers: Readonly<Record<string, string>>, signal: AbortSignal, options: Http1ClientOptions): Promise<Http1Response> {
    if (this.destroyed || this.#pending.length > 0) {
      this.destroy();
      this.#release(this);
      return Promise.reject(new StaleConnection('a kept connection was closed or sent bytes unasked'));
    }
    const reused = this.#used;
    this.#used = true;
    return new Promise<Http1Response>((resolve, reject) => {
      let gotAnyByte = false;
      let head: Buffer = Buffer.alloc(0);
      /** The connection went back to the client: from then on it may serve another request. */
      let released = false;
      const release = (keep: boolean): void => {
        if (released) return;
        released = true;
        signal.removeEventListener('abort', onAbort);
        this.#done(keep);
      };
      let failure: Error | undefined;
      /** Whoever waits for this exchange now: the head's promise, then (once asked for) the body's. */
      let rejectWaiter: ((error: Error) => void) | undefined = reject;
      const fail = (error: Error): void => {
        if (failure !== undefined) return;
        failure = error;
        if (!released) this.destroy();
        release(false);
        rejectWaiter?.(error);
      };
      const onAbort = (): void => fail(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      const idle = (): Error => new IdleTimeoutError(`no data for ${options.idleMs / 1000} s`);
      const closed = (error: Error | undefined, when: string): Error => {
        const code = (error as NodeJS.ErrnoException | undefined)?.code;
        const message = `${error?.message ?? 'the server closed the connection'} ${when}`;
        return Object.assign(new Error(message), code === undefined ? {} : { code });
      };

      const onHead = (chunk: Buffer): void => {
        gotAnyByte = true;
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        const end = head.indexOf(CRLF2);
        if ((end < 0 ? head.length : end) > MAX_HEAD_BYTES) {
          fail(new ProtocolError(`a response head larger than ${MAX_HEAD_BYTES} bytes`));
          return;
        }
        if (end < 0) {
          if (head === chunk) head = Buffer.from(chunk);
          return;
        }
        let parsed: ParsedHead;
        let framing: Framing;
        try {
          parsed = parseHead(head.toString('latin1', 0, end));
          framing = framingOf(parsed);
        } catch (error) {
          fail(new ProtocolError(`${(error as Error).message}`));
          return;
        }
        const rest = head.subarray(end + 4);
        head = Buffer.alloc(0);
        // 1xx (100 Continue, 103 Early Hints): the final response follows.
        if (parsed.status < 200) {
          if (rest.length > 0) onHead(rest);
          return;
        }
        // Until body() is called the socket waits, and what came with the head is kept for it: no read can
        // overwrite it meanwhile, the socket being paused.
        this.#socket.pause();
        const early: Buffer[] = rest.length > 0 ? [rest] : [];
        rejectWaiter = undefined;
        let asked = false;
        this.#exchange = {
          data: (more) => early.push(Buffer.from(more)),
          timeout: () => fail(idle()),
          ended: (error) => fail(closed(error, 'before the end of the body')),
        };
        resolve({
          status: parsed.status,
          headers: parsed.headers,
          discard: () => {
            if (!asked) fail(new Error('body discarded'));
            asked = true;
          },
          body: (onChunk) => {
            if (failure !== undefined) return Promise.reject(failure);
            if (asked) return Promise.reject(new Error('the body was read or discarded already'));
            asked = true;
            return new Promise<void>((resolveBody, rejectBody) => {
              rejectWaiter = rejectBody;
              const reader = this.#bodyReader({ framing, keepAlive: parsed.keepAlive, onChunk, fail, release, idle, closed, complete: resolveBody });
              this.#exchange = reader.exchange;
              reader.start(early);
            });
          },
        });
      };
      this.#exchange = {
        data: onHead,
        timeout: () => fail(idle()),
        ended: (error) => fail(reused && !gotAnyByte ? new StaleConnection(error?.message ?? 'closed') : closed(error, 'before a response')),
      };
      this.#socket.setTimeout(options.idleMs);
      const viaProxy = options.proxy !== undefined && url.protocol === 'http:';
      const lines = [`GET ${viaProxy ? hrefWithoutHash(url) : `${url.pathname}${url.search}`} HTTP/1.1`, `Host: ${url.host}`, `User-Agent: ${options.userAgent}`, 'Accept-Encoding: identity'];
      if (viaProxy && options.proxy !== undefined) lines.push(...proxyAuthorization(options.proxy));
      for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
      this.#socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
      this.#socket.resume();
    });
  }

  /**
   * Reads a body by its framing and passes the data to onChunk one call at a time (a promise it returns pauses
   * the socket until it settles); `complete` follows once the body is whole and every onChunk has settled.
   */
  #bodyReader(reading: BodyReading): { exchange: Exchange; start(early: readonly Buffer[]): void } {
    const { framing, onChunk, fail, release, complete } = reading;
    let whole = false;
    let chain: Promise<void> | undefined;
    const deliver = (data: Buffer): void => {
      if (data.length === 0) return;
      if (chain === undefined) {
        const step = onChunk(data);
        if (!(step instanceof Promise)) return;
        chain = step;
      } else {
        chain = chain.then(() => onChunk(data));
      }
      const current = chain;
      if (!whole) this.#socket.pause();
      current.then(() => {
        if (chain !== current) return;
        chain = undefined;
        if (whole) complete();
        else this.#socket.resume();
      }, (error: unknown) => fail(error as Error));
    };
    // The connection is kept only when the body had a framing of its own and nothing came after it.
    const finish = (rest: Buffer | undefined): void => {
      if (whole) return;
      whole = true;
      if (rest !== undefined && rest.length > 0) this.#pending.push(Buffer.from(rest));
      release(reading.keepAlive && framing.kind !== 'close');
      if (chain === undefined) complete();
    };
    const take = (chunk: Buffer): void => {
      if (whole) return;
      switch (framing.kind) {
        case 'length': {
          const used = Math.min(chunk.length, framing.remaining);
          framing.remaining -= used;
          deliver(used === chunk.length ? chunk : chunk.subarray(0, used));
          if (framing.remaining === 0) finish(chunk.subarray(used));
          return;
        }
        case 'chunked': {
          let result;
          try {
            result = framing.decoder.push(chunk, deliver);
          } catch (error) {
            fail(new ProtocolError(`${(error as Error).message}`));
            return;
          }
          if (result.done) finish(result.rest);
          return;
        }
        case 'close':
          deliver(chunk);
      }
    };
    return {
      exchange: {
        data: take,
        timeout: () => fail(reading.idle()),
        ended: (error) => {
          if (framing.kind === 'close' && error === undefined) finish(undefined);
          else fail(reading.closed(error, 'before the end of the body'));
        },
      },
      start: (early) => {
        for (const chunk of early) take(chunk);
        if (framing.kind === 'length' && framing.remaining === 0) finish(undefined);
        if (!whole && chain === undefined) this.#socket.resume();
      },
    };
  }
}

interface BodyReading {
  readonly framing: Framing;
  readonly keepAlive: boolean;
  readonly onChunk: (chunk: Buffer) => void | Promise<void>;
  readonly fail: (error: Error) => void;
  readonly release: (keep: boolean) => void;
  readonly idle: () => Error;
  readonly closed: (error: Error | undefined, when: string) => Error;
  readonly complete: () => void;
}

interface ParsedHead {
  readonly status: number;
  readonly headers: Map<string, string>;
  readonly keepAlive: boolean;
}

function parseHead(text: string): ParsedHead {
  const lines = text.split('\r\n');
  const match = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (match === null) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`a malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const earlier = headers.get(name);
    headers.set(name, earlier === undefined ? value : `${earlier}, ${value}`);
  }
  const connection = (headers.get('connection') ?? '').toLowerCase();
  const keepAlive = match[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
  return { status: Number(match[2]), headers, keepAlive };
}

/** RFC 9112 §6.3, for a GET. */
function framingOf({ status, headers }: ParsedHead): Framing {
  if (status === 204 || status === 304) return { kind: 'length', remaining: 0 };
  const encoding = headers.get('transfer-encoding');
  if (encoding !== undefined) {
    return /(^|,)\s*chunked\s*$/i.test(encoding) ? { kind: 'chunked', decoder: new ChunkedDecoder() } : { kind: 'close' };
  }
  const length = headers.get('content-length');
  if (length === undefined) return { kind: 'close' };
  // Repeated identical values ("10, 10") are allowed; anything else cannot be framed safely.
  const values = new Set(length.split(',').map((value) => value.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^\d{1,15}$/.test(only)) throw new ProtocolError(`an invalid Content-Length: ${length}`);
  return { kind: 'length', remaining: Number(only) };
}

/** Transfer-Encoding: chunked, fed as bytes arrive. */
export class ChunkedDecoder {
  #state: 'size' | 'data' | 'data-end' | 'trailer' = 'size';
  #line = '';
  #remaining = 0;

  /** Delivers the data it finds; `done` once the last chunk and trailers are read, with what came after them. */
  push(chunk: Buffer, deliver: (data: Buffer) => void): { done: boolean; rest: Buffer } {
    let at = 0;
    while (at < chunk.length) {
      if (this.#state === 'data') {
        const take = Math.min(this.#remaining, chunk.length - at);
        deliver(chunk.subarray(at, at + take));
        at += take;
        this.#remaining -= take;
        if (this.#remaining === 0) this.#state = 'data-end';
        continue;
      }
      const newline = chunk.indexOf(0x0a, at);
      const end = newline < 0 ? chunk.length : newline;
      this.#line += chunk.toString('latin1', at, end);
      if (this.#line.length > 4096) throw new Error('a chunk-size or trailer line longer than 4096 bytes');
      at = end;
      if (newline < 0) break;
      at++;
      const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
      this.#line = '';
      if (this.#state === 'data-end') {
        if (line !== '') throw new Error('chunk data longer than its size');
        this.#state = 'size';
      } else if (this.#state === 'size') {
        const size = /^([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(line);
        if (size === null) throw new Error(`an invalid chunk size line: ${JSON.stringify(line.slice(0, 40))}`);
        this.#remaining = Number.parseInt(size[1] as string, 16);
        this.#state = this.#remaining === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        return { done: true, rest: chunk.subarray(at) };
      }
    }
    return { done: false, rest: Buffer.alloc(0) };
  }
}

/** A connected socket, and where its bytes go: a chunk is valid only during the call (see plainSocket). */
interface Opened {
  readonly socket: net.Socket;
  onBytes(push: (chunk: Buffer) => void): void;
}

/** A connection to `url`'s origin, or through the proxy to it (CONNECT for https). */
async function connect(url: URL, options: Http1ClientOptions, signal: AbortSignal): Promise<Opened> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  // `host` is what the certificate must name, also through a tunnel; SNI is for names only.
  const secure = { host, ca: options.ca, rejectUnauthorized: options.rejectUnauthorized, ALPNProtocols: ['http/1.1'], ...(net.isIP(host) ? {} : { servername: host }) };
  const { proxy } = options;
  if (proxy === undefined && url.protocol === 'http:') return plainSocket(host, port, options, signal);
  if (proxy === undefined) return withDataEvents(await opened(tls.connect({ port, ...secure }), 'secureConnect', options, signal));
  const proxyHost = proxy.hostname.replace(/^\[(.*)\]$/, '$1');
  const tunnel = await opened(net.connect({ host: proxyHost, port: Number(proxy.port || 80) }), 'connect', options, signal);
  if (url.protocol === 'http:') return withDataEvents(tunnel);
  const authority = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
  await establishTunnel(tunnel, authority, proxy, options, signal);
  return withDataEvents(await opened(tls.connect({ socket: tunnel, ...secure }), 'secureConnect', options, signal));
}

/**
 * A TCP connection that reads into one buffer of its own instead of a new one per read: the garbage of thousands
 * of downloads otherwise keeps the collector busy. Each chunk is a view of that buffer, overwritten by the next
 * read, so whoever keeps bytes copies them.
 */
async function plainSocket(host: string, port: number, options: Http1ClientOptions, signal: AbortSignal): Promise<Opened> {
  let push: (chunk: Buffer) => void = () => {};
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  const onread = {
    buffer,
    callback: (bytes: number): boolean => {
      push(buffer.subarray(0, bytes));
      return true;
    },
  };
  const socket = net.connect({ host, port, onread });
  return { socket: await opened(socket, 'connect', options, signal), onBytes: (to) => (push = to) };
}

function withDataEvents(socket: net.Socket): Opened {
  return { socket, onBytes: (push) => socket.on('data', push) };
}

/** Resolves when `socket` emits `ready` (connect or secureConnect), within the idle timeout and until aborted. */
function opened(socket: net.Socket, ready: 'connect' | 'secureConnect', options: Http1ClientOptions, signal: AbortSignal): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      socket.setTimeout(0);
      socket.removeListener('timeout', onTimeout);
      socket.removeListener('error', onError);
      socket.removeListener(ready, onReady);
    };
    const onReady = (): void => {
      cleanup();
      resolve(socket);
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void => onError(signal.reason as Error);
    const onTimeout = (): void => onError(new IdleTimeoutError(`could not connect within ${options.idleMs / 1000} s`));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(options.idleMs);
    socket.on('timeout', onTimeout);
    socket.once(ready, onReady);
    socket.once('error', onError);
  });
}

async function establishTunnel(socket: net.Socket, authority: string, proxy: URL, options: Http1ClientOptions, signal: AbortSignal): Promise<void> {
  socket.write([`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`, `User-Agent: ${options.userAgent}`, ...proxyAuthorization(proxy), '', ''].join('\r\n'), 'latin1');
  const status = await new Promise<number>((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      socket.setTimeout(0);
      socket.removeListener('timeout', onTimeout);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('end', onEnd);
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onAbort = (): void => onError(signal.reason as Error);
    const onTimeout = (): void => onError(new IdleTimeoutError(`no answer to CONNECT from the proxy ${proxy.host} within ${options.idleMs / 1000} s`));
    const onEnd = (): void => onError(new Error(`the proxy ${proxy.host} closed the connection before answering CONNECT`));
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(CRLF2);
      if (end < 0 && head.length <= MAX_HEAD_BYTES) return;
      try {
        // The tunnel must carry nothing but the TLS handshake that follows.
        if (end < 0 || end + 4 !== head.length) throw new Error('an oversized or unexpected answer to CONNECT');
        const { status: answer } = parseHead(head.toString('latin1', 0, end));
        cleanup();
        resolve(answer);
      } catch (error) {
        onError(new ProtocolError(`proxy ${proxy.host}: ${(error as Error).message}`));
      }
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.setTimeout(options.idleMs);
    socket.on('timeout', onTimeout);
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('end', onEnd);
  });
  if (status !== 200) {
    socket.destroy();
    throw new ProtocolError(`the proxy ${proxy.host} refused CONNECT ${authority} with HTTP ${status}`);
  }
}

function proxyAuthorization(proxy: URL): string[] {
  if (proxy.username === '') return [];
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return [`Proxy-Authorization: Basic ${Buffer.from(credentials).toString('base64')}`];
}

function hrefWithoutHash(url: URL): string {
  return url.hash === '' ? url.href : url.href.slice(0, -url.hash.length);
}

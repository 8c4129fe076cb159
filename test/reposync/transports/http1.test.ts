// The HTTP/1.1 client against a raw TCP server on loopback that answers with exactly the bytes each test gives:
// framing (Content-Length, chunked, to the end of the connection), keep-alive and its failures, 1xx, broken
// responses, timeouts, abort, and an http proxy (absolute-form and CONNECT) with its authorization.
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChunkedDecoder, Http1Client, IdleTimeoutError, ProtocolError, type Http1ClientOptions } from '../../../src/reposync/transports/http1.js';

interface Exchange {
  /** The request head as received. */
  readonly request: string;
  readonly socket: net.Socket;
}

/** A server whose `answer` gets each request head (per connection, in order) and writes what it likes. */
class RawServer {
  readonly requests: string[] = [];
  connections = 0;
  answer: (exchange: Exchange) => void = ({ socket }) => socket.end('HTTP/1.1 500 Unset\r\nContent-Length: 0\r\n\r\n');
  readonly #server = net.createServer((socket) => {
    this.connections++;
    let buffered = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let end;
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const request = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        this.requests.push(request);
        this.answer({ request, socket });
      }
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as net.AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

let server: RawServer;
let base: string;
let client: Http1Client;
const signal = new AbortController().signal;
const OPTIONS: Http1ClientOptions = { idleMs: 2_000, rejectUnauthorized: true, userAgent: 'test' };

beforeAll(async () => {
  server = new RawServer();
  base = await server.listen();
});

afterAll(() => server.close());

afterEach(() => {
  client?.close();
  server.requests.length = 0;
  server.connections = 0;
});

/** GET `url` and read the whole body, copying chunks as the contract asks. */
async function get(url: string, headers: Record<string, string> = {}, options: Partial<Http1ClientOptions> = {}): Promise<{ status: number; headers: ReadonlyMap<string, string>; body: string }> {
  client ??= new Http1Client({ ...OPTIONS, ...options });
  const response = await client.get(new URL(url), headers, signal);
  const chunks: Buffer[] = [];
  await response.body((chunk) => void chunks.push(Buffer.from(chunk)));
  return { status: response.status, headers: response.headers, body: Buffer.concat(chunks).toString('latin1') };
}

function newClient(options: Partial<Http1ClientOptions> = {}): Http1Client {
  client?.close();
  client = new Http1Client({ ...OPTIONS, ...options });
  return client;
}

describe('Http1Client', () => {
  it('sends a GET with Host, our headers and no compression, and reads a Content-Length body', async () => {
    newClient();
    server.answer = ({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Twice: a\r\nx-twice: b\r\n\r\nhello');
    const response = await get(`${base}/repo/x.rpm?y=1#frag`, { Range: 'bytes=3-' });
    expect(response).toMatchObject({ status: 200, body: 'hello' });
    expect(response.headers.get('x-twice')).toBe('a, b');
    const [request = ''] = server.requests;
    expect(request.split('\r\n')).toEqual(['GET /repo/x.rpm?y=1 HTTP/1.1', `Host: ${new URL(base).host}`, 'User-Agent: test', 'Accept-Encoding: identity', 'Range: bytes=3-']);
  });

  it('keeps the connection for the next request when the body was framed', async () => {
    newClient();
    server.answer = ({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    for (let i = 0; i < 3; i++) expect((await get(`${base}/${i}`)).body).toBe('ok');
    expect(server.connections).toBe(1);
  });

  it('decodes a chunked body split at every byte, with extensions and trailers', async () => {
    newClient();
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n';
    server.answer = ({ socket }) => {
      // One byte per write, and the connection stays usable afterwards.
      void (async () => {
        for (const byte of wire) {
          socket.write(byte);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
    };
    expect((await get(`${base}/a`)).body).toBe('hello world');
    expect((await get(`${base}/b`)).body).toBe('hello world');
    expect(server.connections).toBe(1);
  });

  it('reads a body without length to the end of the connection, then uses a new connection', async () => {
    newClient();
    server.answer = ({ socket }) => socket.end('HTTP/1.0 200 OK\r\n\r\nuntil close');
    expect((await get(`${base}/a`)).body).toBe('until close');
    expect((await get(`${base}/b`)).body).toBe('until close');
    expect(server.connections).toBe(2);
  });

  it('does not reuse a connection the server asked to close', async () => {
    newClient();
    server.answer = ({ socket }) => socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx');
    await get(`${base}/a`);
    await get(`${base}/b`);
    expect(server.connections).toBe(2);
  });

  it('skips 1xx responses before the final one', async () => {
    newClient();
    server.answer = ({ socket }) => socket.write('HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes');
    expect(await get(`${base}/a`)).toMatchObject({ status: 200, body: 'yes' });
  });

  it('sends the GET again on a new connection when a kept one is closed as the request goes out', async () => {
    newClient();
    let answered = 0;
    server.answer = ({ socket }) => {
      // The second request on the first connection meets a server that has just timed the connection out.
      if (++answered === 2) socket.destroy();
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    };
    await get(`${base}/a`);
    expect((await get(`${base}/b`)).body).toBe('ok');
    expect(server.connections).toBe(2);
    expect(server.requests.map((request) => request.split(' ')[1])).toEqual(['/a', '/b', '/b']);
  });

  it('drops a kept connection the server closed while it was idle', async () => {
    newClient();
    server.answer = ({ socket }) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      setTimeout(() => socket.destroy(), 20);
    };
    await get(`${base}/a`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await get(`${base}/b`)).body).toBe('ok');
    expect(server.requests).toHaveLength(2);
  });

  it('drops a kept connection that got bytes nobody asked for, and asks again on a new one', async () => {
    newClient();
    let answered = 0;
    server.answer = ({ socket }) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      if (++answered === 1) setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad'), 20);
    };
    await get(`${base}/a`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await get(`${base}/b`)).body).toBe('ok');
    expect(server.connections).toBe(2);
    expect(server.requests).toHaveLength(2);
  });

  it('a fresh connection that closes without an answer is an error, not a retry', async () => {
    newClient();
    server.answer = ({ socket }) => socket.destroy();
    await expect(get(`${base}/a`)).rejects.toThrow(/before a response/);
    expect(server.requests).toHaveLength(1);
  });

  it('fails, naming what happened, when the body ends early', async () => {
    newClient();
    server.answer = ({ socket }) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort');
    await expect(get(`${base}/a`)).rejects.toThrow(/closed the connection before the end of the body/);
  });

  it('rejects responses it cannot frame or parse', async () => {
    newClient();
    const cases = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello', /invalid Content-Length/],
      ['HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
      ['SPDY/3 200 OK\r\n\r\n', /not an HTTP\/1\.x status line/],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /malformed header line/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', /invalid chunk size line/],
      ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', /chunk data longer than its size/],
    ] as const;
    for (const [wire, message] of cases) {
      server.answer = ({ socket }) => socket.end(wire);
      await expect(get(`${base}/x`), wire).rejects.toSatisfy((error: Error) => error instanceof ProtocolError && message.test(error.message));
    }
    server.answer = ({ socket }) => socket.end(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`);
    await expect(get(`${base}/big`)).rejects.toThrow(/response head larger than/);
  });

  it('times out when no byte arrives, before the head and in the body', async () => {
    newClient({ idleMs: 200 });
    server.answer = () => {};
    await expect(get(`${base}/silent`)).rejects.toBeInstanceOf(IdleTimeoutError);
    server.answer = ({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    const started = performance.now();
    await expect(get(`${base}/stall`)).rejects.toBeInstanceOf(IdleTimeoutError);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('stops at once on abort, also while the body is read', async () => {
    newClient();
    server.answer = ({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    const controller = new AbortController();
    const response = await client.get(new URL(`${base}/a`), {}, controller.signal);
    const reading = response.body(() => {});
    setTimeout(() => controller.abort(new Error('stop now')), 50);
    await expect(reading).rejects.toThrow('stop now');
    await expect(client.get(new URL(`${base}/b`), {}, controller.signal)).rejects.toThrow('stop now');
  });

  it('holds the socket while a chunk handler works, and delivers in order', async () => {
    newClient();
    const body = Buffer.alloc(3 * 1024 * 1024, 'abc');
    server.answer = ({ socket }) => socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
    const response = await client.get(new URL(`${base}/big`), {}, signal);
    const received: Buffer[] = [];
    let calls = 0;
    await response.body(async (chunk) => {
      const copy = Buffer.from(chunk);
      if (calls++ % 3 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      received.push(copy);
    });
    expect(Buffer.concat(received).equals(body)).toBe(true);
  });

  it('a discarded body closes the connection rather than reading it', async () => {
    newClient();
    server.answer = ({ socket }) => socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 1000000\r\n\r\npartial');
    const response = await client.get(new URL(`${base}/a`), {}, signal);
    expect(response.status).toBe(404);
    response.discard();
    server.answer = ({ socket }) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    expect((await get(`${base}/b`)).body).toBe('ok');
    expect(server.connections).toBe(2);
  });
});

describe('ChunkedDecoder', () => {
  it('returns what follows the last chunk', () => {
    const decoder = new ChunkedDecoder();
    const data: string[] = [];
    const result = decoder.push(Buffer.from('3\r\nabc\r\n0\r\n\r\nHTTP/1.1'), (chunk) => data.push(chunk.toString()));
    expect(data).toEqual(['abc']);
    expect(result).toMatchObject({ done: true });
    expect(result.rest.toString()).toBe('HTTP/1.1');
  });
});

describe('through an http proxy', () => {
  let proxy: net.Server;
  let proxyUrl: string;
  const proxyRequests: string[] = [];
  let work: string;
  let tlsServer: https.Server;
  let tlsBase: string;
  let ca: Buffer;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'http1-'));
    const keyFile = path.join(work, 'key.pem');
    const certFile = path.join(work, 'cert.pem');
    await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    ca = await readFile(certFile);
    tlsServer = https.createServer({ key: await readFile(keyFile), cert: ca }, (_req, res) => res.end('over tls'));
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    tlsBase = `https://127.0.0.1:${(tlsServer.address() as net.AddressInfo).port}`;
    // A proxy that records each request head; CONNECT opens a tunnel, anything else is answered directly.
    proxy = net.createServer((socket) => {
      socket.once('data', (chunk) => {
        const head = chunk.toString('latin1');
        proxyRequests.push(head);
        const connect = /^CONNECT (\S+):(\d+) /.exec(head);
        if (connect === null) {
          socket.end('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nproxied!');
          return;
        }
        const upstream = net.connect(Number(connect[2]), connect[1], () => {
          socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
          socket.pipe(upstream).pipe(socket);
        });
        upstream.on('error', () => socket.destroy());
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://user%40x:p%3Ass@127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  });

  afterAll(async () => {
    tlsServer.closeAllConnections();
    await new Promise((resolve) => tlsServer.close(resolve));
    await new Promise((resolve) => proxy.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  afterEach(() => void (proxyRequests.length = 0));

  const basic = `Basic ${Buffer.from('user@x:p:ss').toString('base64')}`;

  it('sends http requests in absolute form, with Proxy-Authorization', async () => {
    newClient({ proxy: new URL(proxyUrl) });
    expect((await get('http://mirror.invalid:8080/repo/a.rpm')).body).toBe('proxied!');
    const lines = (proxyRequests[0] ?? '').split('\r\n');
    expect(lines[0]).toBe('GET http://mirror.invalid:8080/repo/a.rpm HTTP/1.1');
    expect(lines).toContain('Host: mirror.invalid:8080');
    expect(lines).toContain(`Proxy-Authorization: ${basic}`);
  });

  it('tunnels https with CONNECT and still checks the certificate', async () => {
    newClient({ proxy: new URL(proxyUrl), ca });
    expect((await get(`${tlsBase}/x`)).body).toBe('over tls');
    const lines = (proxyRequests[0] ?? '').split('\r\n');
    expect(lines[0]).toBe(`CONNECT ${new URL(tlsBase).host} HTTP/1.1`);
    expect(lines).toContain(`Proxy-Authorization: ${basic}`);

    newClient({ proxy: new URL(proxyUrl) });
    await expect(get(`${tlsBase}/x`)).rejects.toThrow(/self-signed certificate/);
  });
});

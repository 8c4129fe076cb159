// The test servers work with real clients: rsync, fetch, node:http and curl.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFtpServer, type FtpServer } from './ftp-server.js';
import { startHttpServer, type HttpServer } from './http-server.js';
import { startRsyncDaemon, type RsyncDaemon } from './rsync-daemon.js';

const PACKAGE = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
const REPOMD = '<?xml version="1.0"?>\n<repomd/>\n';

let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'servers-test-'));
  await mkdir(path.join(root, 'repo/Packages/f'), { recursive: true });
  await mkdir(path.join(root, 'repo/repodata'), { recursive: true });
  await writeFile(path.join(root, 'repo/Packages/f/foo-1.0-1.x86_64.rpm'), PACKAGE);
  await writeFile(path.join(root, 'repo/repodata/repomd.xml'), REPOMD);
  await writeFile(path.join(root, 'repo/a b&c.txt'), 'spaces');
  await writeFile(path.join(root, 'repo/empty'), '');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('startRsyncDaemon', () => {
  let daemon: RsyncDaemon;
  beforeAll(async () => {
    daemon = await startRsyncDaemon({ modules: { mirror: root } });
  });
  afterAll(async () => {
    await daemon.stop();
  });

  const listOnly = (url: string) => execa('rsync', ['--list-only', '--contimeout=5', '--timeout=5', url], { reject: false, timeout: 15_000 });

  it('lists its modules', async () => {
    const result = await listOnly(`rsync://127.0.0.1:${daemon.port}/`);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^mirror\s/m);
  });

  it('lists a path and lets the daemon expand a glob', async () => {
    expect(daemon.url('mirror', 'repo/Packages/*/*.rpm')).toBe(`rsync://127.0.0.1:${daemon.port}/mirror/repo/Packages/*/*.rpm`);
    const result = await listOnly(daemon.url('mirror', 'repo/Packages/*/*.rpm'));
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/\s4,096 .* foo-1\.0-1\.x86_64\.rpm$/m);
  });

  it('stops: the port refuses connections afterwards', async () => {
    const second = await startRsyncDaemon({ modules: { other: root } });
    expect((await listOnly(second.url('other'))).exitCode).toBe(0);
    await second.stop();
    expect((await listOnly(second.url('other'))).exitCode).toBe(10);
  });
});

describe('startFtpServer', () => {
  let ftp: FtpServer;
  beforeAll(async () => {
    ftp = await startFtpServer({ root });
  });
  afterAll(async () => {
    await ftp.stop();
  });

  const curl = (url: string) => execa('curl', ['-q', '-sS', '--max-time', '10', url], { reject: false, timeout: 15_000 });

  it('lists the root and serves files anonymously', async () => {
    const list = await curl(ftp.url());
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toMatch(/ repo$/m);
    const file = await curl(ftp.url('repo/repodata/repomd.xml'));
    expect(file.exitCode).toBe(0);
    expect(`${file.stdout}\n`).toBe(REPOMD);
  });

  it('reports a missing file', async () => {
    expect((await curl(ftp.url('repo/nope.xml'))).exitCode).toBe(78);
  });

  it('stops: the port refuses connections afterwards', async () => {
    const second = await startFtpServer({ root });
    expect((await curl(second.url())).exitCode).toBe(0);
    await second.stop();
    expect((await curl(second.url())).exitCode).toBe(7);
  });
});

describe('startHttpServer', () => {
  let server: HttpServer;
  const packagePath = '/repo/Packages/f/foo-1.0-1.x86_64.rpm';
  const get = (urlPath: string, init?: RequestInit) =>
    fetch(new URL(urlPath, server.baseUrl), { signal: AbortSignal.timeout(10_000), ...init });

  beforeAll(async () => {
    server = await startHttpServer({ root, faults: [{ match: '/preset-fault', fault: { kind: 'status', status: 503 } }] });
  });
  afterAll(async () => {
    await server.stop();
  });

  it('serves a file with its length and records the request', async () => {
    const response = await get(packagePath);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('4096');
    expect(Buffer.from(await response.arrayBuffer())).toEqual(PACKAGE);
    expect(server.requests.at(-1)).toEqual({ method: 'GET', path: packagePath });
  });

  it('answers HEAD without a body and decodes paths', async () => {
    const response = await get('/repo/a%20b%26c.txt', { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('6');
    expect(await response.text()).toBe('');
    expect(server.requests.at(-1)).toEqual({ method: 'HEAD', path: '/repo/a b&c.txt' });
  });

  it('serves an empty file', async () => {
    const response = await get('/repo/empty');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
  });

  it('serves byte ranges for resume', async () => {
    const tail = await get(packagePath, { headers: { range: 'bytes=4000-' } });
    expect(tail.status).toBe(206);
    expect(tail.headers.get('content-range')).toBe('bytes 4000-4095/4096');
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(PACKAGE.subarray(4000));
    expect(server.requests.at(-1)?.range).toBe('bytes=4000-');

    const suffix = await get(packagePath, { headers: { range: 'bytes=-10' } });
    expect(Buffer.from(await suffix.arrayBuffer())).toEqual(PACKAGE.subarray(4086));

    const beyond = await get(packagePath, { headers: { range: 'bytes=5000-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */4096');
  });

  it('lists directories and redirects a directory path without a trailing slash', async () => {
    const redirect = await get('/repo', { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/repo/');
    const html = await (await get('/repo/')).text();
    expect(html).toContain('<a href="Packages/">Packages/</a>');
    expect(html).toContain('<a href="a%20b%26c.txt">a b&#38;c.txt</a>');
  });

  it('answers 404 for missing files and for paths that climb out of the root', async () => {
    expect((await get('/repo/nope.rpm')).status).toBe(404);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: server.port, path: '/..%2f..%2f..%2fetc%2fpasswd' }, (response) => {
        response.resume();
        resolve(response.statusCode);
      }).on('error', reject);
    });
    expect(status).toBe(404);
  });

  it('injects status faults by glob, preset or predicate, and clears them', async () => {
    expect((await get('/preset-fault')).status).toBe(503);
    server.setFault('**/*.rpm', { kind: 'status', status: 500 });
    server.setFault((urlPath) => urlPath.endsWith('repomd.xml'), { kind: 'status', status: 404 });
    expect((await get(packagePath)).status).toBe(500);
    expect((await get('/repo/repodata/repomd.xml')).status).toBe(404);
    server.clearFaults();
    expect((await get(packagePath)).status).toBe(200);
  });

  it('applies a fault a limited number of times', async () => {
    server.setFault(packagePath, { kind: 'status', status: 503 }, { times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(packagePath)).status);
    expect(statuses).toEqual([503, 503, 200]);
  });

  it('truncates: full Content-Length, then the connection closes early', async () => {
    server.setFault(packagePath, { kind: 'truncate', afterBytes: 1000 }, { times: 1 });
    const response = await get(packagePath);
    expect(response.headers.get('content-length')).toBe('4096');
    const { bytes, error } = await readUntilError(response);
    expect(error).toBeDefined();
    expect(bytes.length).toBe(1000);
    expect(bytes).toEqual(PACKAGE.subarray(0, 1000));
  });

  it('stalls after some bytes until the client gives up', async () => {
    server.setFault(packagePath, { kind: 'stall', afterBytes: 100 }, { times: 1 });
    const started = performance.now();
    const response = await fetch(new URL(packagePath, server.baseUrl), { signal: AbortSignal.timeout(500) });
    expect(response.status).toBe(200);
    const { bytes, error } = await readUntilError(response);
    expect((error as Error | undefined)?.name).toBe('TimeoutError');
    expect(bytes.length).toBe(100);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('delays a slow response', async () => {
    server.setFault(packagePath, { kind: 'slow', delayMs: 300 }, { times: 1 });
    const started = performance.now();
    const response = await get(packagePath);
    expect(Buffer.from(await response.arrayBuffer())).toEqual(PACKAGE);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('corrupts one byte of the body, counted from the start of a range', async () => {
    server.setFault(packagePath, { kind: 'corrupt', atByte: 5 }, { times: 2 });
    const body = Buffer.from(await (await get(packagePath)).arrayBuffer());
    expect(body.length).toBe(PACKAGE.length);
    expect(differingOffsets(body, PACKAGE)).toEqual([5]);
    const tail = Buffer.from(await (await get(packagePath, { headers: { range: 'bytes=4000-' } })).arrayBuffer());
    expect(differingOffsets(tail, PACKAGE.subarray(4000))).toEqual([5]);
  });

  it('ends stalled and slow responses when it stops', async () => {
    const own = await startHttpServer({ root });
    own.setFault(packagePath, { kind: 'stall', afterBytes: 0 });
    own.setFault('/repo/repodata/repomd.xml', { kind: 'slow', delayMs: 60_000 });
    const stalled = await fetch(new URL(packagePath, own.baseUrl));
    const slow = fetch(new URL('/repo/repodata/repomd.xml', own.baseUrl)).then(
      () => 'answered',
      () => 'failed',
    );
    await waitFor(() => own.requests.length === 2);
    const started = performance.now();
    await own.stop();
    expect((await readUntilError(stalled)).error).toBeDefined();
    expect(await slow).toBe('failed');
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

async function readUntilError(response: Response): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Uint8Array[] = [];
  try {
    for await (const chunk of response.body ?? []) chunks.push(chunk);
    return { bytes: Buffer.concat(chunks), error: undefined };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

function differingOffsets(a: Buffer, b: Buffer): number[] {
  return [...a.keys()].filter((i) => a[i] !== b[i]);
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

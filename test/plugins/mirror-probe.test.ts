// Mirror probes against real local dirs and real rsync, HTTP and FTP servers on loopback.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorKind, probeMirror } from '../../src/plugins/mirror-probe.js';
import { startFtpServer, type FtpServer } from '../support/ftp-server.js';
import { startHttpServer, type HttpServer } from '../support/http-server.js';
import { freePort } from '../support/daemons.js';
import { startRsyncDaemon, type RsyncDaemon } from '../support/rsync-daemon.js';

// Layout: repo/ is a full repository, bare/ only has packages (no repodata), so only a listing can vouch for it.
let root: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'mirror-probe-'));
  for (const dir of ['repo/repodata', 'repo/Packages/f', 'bare/Packages/f']) await mkdir(path.join(root, dir), { recursive: true });
  await writeFile(path.join(root, 'repo/repodata/repomd.xml'), '<?xml version="1.0"?>\n<repomd/>\n');
  await writeFile(path.join(root, 'repo/Packages/f/foo-1.0-1.x86_64.rpm'), 'rpm');
  await writeFile(path.join(root, 'bare/Packages/f/foo-1.0-1.x86_64.rpm'), 'rpm');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('mirrorKind', () => {
  it('tells kinds apart by scheme, anything else is a local path', () => {
    expect(mirrorKind('rsync://host/mod/')).toBe('rsync');
    expect(mirrorKind('http://host/x')).toBe('http');
    expect(mirrorKind('HTTPS://host/x')).toBe('http');
    expect(mirrorKind('ftp://host/x')).toBe('ftp');
    expect(mirrorKind('/srv/mirror/Packages/*/*.rpm')).toBe('local');
    expect(mirrorKind('relative/http://not-a-url')).toBe('local');
  });
});

describe('local mirrors', () => {
  it('accepts an existing directory', async () => {
    const result = await probeMirror(path.join(root, 'repo'));
    expect(result).toMatchObject({ kind: 'local', ok: true, detail: 'directory exists' });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('rejects a missing directory and a file', async () => {
    expect(await probeMirror(path.join(root, 'nope'))).toMatchObject({ ok: false, detail: 'no such directory' });
    expect(await probeMirror(path.join(root, 'repo/repodata/repomd.xml'))).toMatchObject({ ok: false, detail: 'not a directory' });
  });

  it('needs at least one match for a glob', async () => {
    const match = await probeMirror(path.join(root, 'repo/Packages/*/*.rpm'));
    expect(match).toMatchObject({ ok: true, detail: `glob matches ${path.join(root, 'repo/Packages/f/foo-1.0-1.x86_64.rpm')}` });
    // The dir part exists, but nothing matches: the mirror would yield no packages.
    expect(await probeMirror(path.join(root, 'repo/Packages/*/*.drpm'))).toMatchObject({ ok: false, detail: 'no match for glob' });
  });
});

describe('rsync mirrors', () => {
  let daemon: RsyncDaemon;
  const silent = silentServer();
  beforeAll(async () => {
    daemon = await startRsyncDaemon({ modules: { mirror: root } });
    await silent.start();
  });
  afterAll(async () => {
    await daemon.stop();
    await silent.stop();
  });

  it('accepts a module path and a remote glob', async () => {
    expect(await probeMirror(daemon.url('mirror', 'repo/'))).toMatchObject({ kind: 'rsync', ok: true });
    expect(await probeMirror(daemon.url('mirror', 'repo/Packages/*/*.rpm'))).toMatchObject({ ok: true });
  });

  it('explains an unknown module', async () => {
    const result = await probeMirror(daemon.url('nomodule', 'repo/'));
    expect(result.ok).toBe(false);
    expect(result.detail).toBe("rsync exited 5 (daemon refused: unknown module or access denied): Unknown module 'nomodule'");
  });

  it('explains a missing path and a glob without matches', async () => {
    const missing = await probeMirror(daemon.url('mirror', 'nope/'));
    expect(missing.ok).toBe(false);
    expect(missing.detail).toMatch(/^rsync exited 23 \(path missing or unreadable\): change_dir "\/?nope" .*No such file or directory/);
    expect(await probeMirror(daemon.url('mirror', 'repo/Packages/*/*.drpm'))).toMatchObject({ ok: false });
  });

  it('explains a refused connection', async () => {
    const result = await probeMirror(`rsync://127.0.0.1:${await freePort()}/mirror/`);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^rsync exited 10 \(connection failed\): .*Connection refused/);
  });

  it('gives up on a server that accepts and never answers, within the timeout', async () => {
    const result = await probeMirror(`rsync://127.0.0.1:${silent.port()}/mirror/`, { timeoutMs: 1_500 });
    // rsync's own --timeout=2 would only give up after 3 s, with exit 30.
    expect(result).toMatchObject({ ok: false, detail: 'rsync gave no answer within 1500 ms' });
    expect(result.durationMs).toBeLessThan(3_000);
  });
});

describe('HTTP mirrors', () => {
  let server: HttpServer;
  beforeAll(async () => {
    server = await startHttpServer({ root });
  });
  afterAll(async () => {
    await server.stop();
  });
  const requestedPaths = (since: number) => server.requests.slice(since).map((request) => request.path);

  it('accepts a mirror with repodata/repomd.xml, with or without a trailing slash', async () => {
    for (const mirror of [`${server.baseUrl}repo`, `${server.baseUrl}repo/`]) {
      const before = server.requests.length;
      expect(await probeMirror(mirror)).toMatchObject({ kind: 'http', ok: true, detail: 'repodata/repomd.xml found (HTTP 200)' });
      expect(requestedPaths(before)).toEqual(['/repo/repodata/repomd.xml']);
    }
  });

  it('falls back to the directory listing when repomd.xml is 404', async () => {
    const before = server.requests.length;
    const result = await probeMirror(`${server.baseUrl}bare/Packages/`);
    expect(result).toMatchObject({ ok: true, detail: 'no repodata/repomd.xml, but the directory answers (HTTP 200)' });
    expect(requestedPaths(before)).toEqual(['/bare/Packages/repodata/repomd.xml', '/bare/Packages/']);
  });

  it('probes the directory above trailing glob segments', async () => {
    const before = server.requests.length;
    expect(await probeMirror(`${server.baseUrl}bare/Packages/*/*.rpm`)).toMatchObject({ ok: true });
    expect(requestedPaths(before)).toEqual(['/bare/Packages/repodata/repomd.xml', '/bare/Packages/']);
  });

  it('fails when neither repomd.xml nor the directory exists', async () => {
    const result = await probeMirror(`${server.baseUrl}nope/`);
    expect(result).toMatchObject({
      ok: false,
      detail: `HTTP 404 for ${server.baseUrl}nope/repodata/repomd.xml, HTTP 404 for ${server.baseUrl}nope/`,
    });
  });

  it('fails on a server error without trying the listing', async () => {
    server.setFault('/repo/repodata/repomd.xml', { kind: 'status', status: 500 }, { times: 1 });
    const before = server.requests.length;
    const result = await probeMirror(`${server.baseUrl}repo/`);
    expect(result).toMatchObject({ ok: false, detail: `HTTP 500 for ${server.baseUrl}repo/repodata/repomd.xml` });
    expect(requestedPaths(before)).toEqual(['/repo/repodata/repomd.xml']);
  });

  it('fails within the timeout on a server that stalls mid-body', async () => {
    server.setFault('/repo/repodata/repomd.xml', { kind: 'stall', afterBytes: 5 }, { times: 1 });
    const result = await probeMirror(`${server.baseUrl}repo/`, { timeoutMs: 500 });
    expect(result).toMatchObject({
      ok: false,
      detail: `no complete answer within 500 ms for ${server.baseUrl}repo/repodata/repomd.xml`,
    });
    expect(result.durationMs).toBeLessThan(3_000);
  });

  it('fails on a connection closed mid-body', async () => {
    server.setFault('/repo/repodata/repomd.xml', { kind: 'truncate', afterBytes: 5 }, { times: 1 });
    const result = await probeMirror(`${server.baseUrl}repo/`);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/ for http:\/\/127\.0\.0\.1:\d+\/repo\/repodata\/repomd\.xml$/);
  });

  it('explains a refused connection and never throws on a bad URL', async () => {
    const port = await freePort();
    expect(await probeMirror(`http://127.0.0.1:${port}/repo/`)).toMatchObject({
      ok: false,
      detail: `connection refused for http://127.0.0.1:${port}/repo/repodata/repomd.xml`,
    });
    expect(await probeMirror('http://[not-a-host/repo/')).toMatchObject({ kind: 'http', ok: false });
  });
});

describe('FTP mirrors', () => {
  let ftp: FtpServer;
  beforeAll(async () => {
    ftp = await startFtpServer({ root });
  });
  afterAll(async () => {
    await ftp.stop();
  });

  it('accepts a mirror with repodata/repomd.xml', async () => {
    expect(await probeMirror(ftp.url('repo'))).toMatchObject({ kind: 'ftp', ok: true, detail: 'repodata/repomd.xml found' });
  });

  it('falls back to the directory listing, also above a glob', async () => {
    const expected = { ok: true, detail: 'no repodata/repomd.xml, but the directory lists' };
    expect(await probeMirror(ftp.url('bare/Packages/'))).toMatchObject(expected);
    expect(await probeMirror(ftp.url('bare/Packages/*/*.rpm'))).toMatchObject(expected);
  });

  it('fails on a missing directory', async () => {
    const result = await probeMirror(ftp.url('nope/'));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(new RegExp(`^no ${ftp.url('nope/repodata/repomd.xml')}, and curl exited 9: .* for ${ftp.url('nope/')}$`));
  });

  it('explains a refused connection', async () => {
    const result = await probeMirror(`ftp://127.0.0.1:${await freePort()}/repo/`);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^curl exited 7: .* for ftp:\/\/127\.0\.0\.1:\d+\/repo\/repodata\/repomd\.xml$/);
  });
});

/** Accepts connections and never writes: the case rsync's own timeouts do not bound. */
function silentServer() {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    start: () => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)),
    port: () => (server.address() as net.AddressInfo).port,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

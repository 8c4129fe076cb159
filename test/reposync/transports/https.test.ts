import { execa } from 'execa';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import https, { type Server } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncFromMirror } from '../../../src/reposync/mirror-sync.js';
import { buildMirrorPackages, makeRepo, repoDirs, testContext, type Dirs } from '../fixtures/mirror.js';
import { workDir, type Repo } from '../fixtures/repos.js';

let work: string;
let repo: Repo;
let server: Server;
let mirror: string;
let caFile: string;

beforeAll(async () => {
  work = await workDir();
  repo = await makeRepo(work, await buildMirrorPackages(work, 3));
  caFile = path.join(work, 'cert.pem');
  const keyFile = path.join(work, 'key.pem');
  await execa('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  // A self-signed static file server: enough to tell whether the client verified the certificate.
  server = https.createServer({ key: await readFile(keyFile), cert: await readFile(caFile) }, (req, res) => {
    const file = path.join(work, path.posix.normalize(decodeURIComponent(new URL(req.url ?? '/', 'https://x').pathname)));
    stat(file).then(
      (info) => {
        res.writeHead(200, { 'Content-Length': info.size });
        createReadStream(file).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mirror = `https://127.0.0.1:${(server.address() as { port: number }).port}/${path.relative(work, repo.root)}/`;
}, 60_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await rm(work, { recursive: true, force: true });
});

async function freshDirs(): Promise<Dirs> {
  return repoDirs(await mkdtemp(path.join(work, 'sync-')));
}

describe('https mirror', () => {
  it('refuses an untrusted certificate at once (no retries)', async () => {
    const started = performance.now();
    const result = await syncFromMirror(mirror, testContext(await freshDirs()));
    expect(result).toMatchObject({ ok: false, detail: expect.stringContaining('self-signed certificate') });
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('trusts the certificate given as sslcacert', async () => {
    const result = await syncFromMirror(mirror, testContext(await freshDirs(), { options: { sslcacert: caFile } }));
    expect(result).toMatchObject({ ok: true, admitted: 3 });
  });

  it('skips verification with sslverify=0', async () => {
    const result = await syncFromMirror(mirror, testContext(await freshDirs(), { options: { sslverify: false } }));
    expect(result).toMatchObject({ ok: true, admitted: 3 });
  });

  it('a missing sslcacert fails the mirror with a clear detail', async () => {
    const result = await syncFromMirror(mirror, testContext(await freshDirs(), { options: { sslcacert: path.join(work, 'nope.pem') } }));
    expect(result).toMatchObject({ ok: false, detail: expect.stringContaining('nope.pem') });
  });
});

// The staging threads that fetch, stage and verify http(s) packages with the keys the main thread prepared, and
// are kept for the next sync of the same setup: a kept thread must get the keys again, so that a key added
// between two syncs counts at once.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyring, type Keyring } from '../../../src/gpg/keyring.js';
import { syncFromMirror } from '../../../src/reposync/mirror-sync.js';
import { parkedThreads } from '../../../src/reposync/transports/stager.js';
import type { MirrorSyncContext, PackageVerdict, RepoOptions } from '../../../src/reposync/types.js';
import { parseRpm } from '../../../src/rpm/header.js';
import { signingKeysOf } from '../../../src/rpm/prepare-signing-keys.js';
import { verifyRpm } from '../../../src/rpm/verify.js';
import { createGpgHome, type GpgHome } from '../../support/gpg.js';
import { startHttpServer, type HttpServer } from '../../support/http-server.js';
import { buildRpms, signRpms, withSignatureTags } from '../../support/rpm.js';
import { buildMirrorPackages, filesIn, makeRepo, repoDirs, testContext } from '../fixtures/mirror.js';
import { sha, workDir, type Repo } from '../fixtures/repos.js';

let work: string;
let gpg: GpgHome;
let server: HttpServer;
let repo: Repo;
let gpgDir: string;
let armored: string;
/** A repo of one package signed with ECDSA P-256, which node:crypto does not check here (rpmsign cannot make it). */
let ecdsaRepo: Repo;
let ecdsaArmored: string;
/** How often the main thread's verifyPackage ran: never, for packages the threads hold. */
let mainThreadChecks = 0;
/** Packages of three sizes, two of them larger than one socket read, every third one unsigned: name → contents. */
let many: Map<string, Buffer>;
let manyRepo: Repo;

beforeAll(async () => {
  work = await workDir();
  gpg = await createGpgHome();
  const key = await gpg.generateKey('Kept Threads <kept@test>');
  const built = await buildMirrorPackages(work, 4);
  await signRpms([...built.keys()].map((name) => path.join(work, 'rpms', name)), gpg, key.fingerprint);
  const packages = new Map<string, Buffer>();
  for (const name of built.keys()) packages.set(name, await readFile(path.join(work, 'rpms', name)));
  repo = await makeRepo(work, packages);
  armored = await gpg.exportArmored([key.fingerprint]);

  const ecdsa = await gpg.generateKey('ECDSA Signer <ecdsa@test>', { algorithm: 'nistp256' });
  const [[name, unsigned]] = [...(await buildMirrorPackages(path.join(work, 'ecdsa'), 1))] as [[string, Buffer]];
  const { headerStart, headerEnd } = parseRpm(unsigned);
  const headerFile = path.join(work, 'ecdsa', 'header');
  await writeFile(headerFile, unsigned.subarray(headerStart, headerEnd));
  await gpg.gpg(['--local-user', ecdsa.fingerprint, '--digest-algo', 'SHA256', '--detach-sign', headerFile]);
  const signed = withSignatureTags(unsigned, { 267: await readFile(`${headerFile}.sig`) });
  ecdsaRepo = await makeRepo(path.join(work, 'ecdsa'), new Map([[name, signed]]));
  ecdsaArmored = await gpg.exportArmored([ecdsa.fingerprint]);

  const manyDir = path.join(work, 'many');
  const manyFiles = await buildRpms(Array.from({ length: 24 }, (_, i) => ({ name: `many${i}`, version: '1.0', release: '1', payloadBytes: [40_000, 300_000, 700_000][i % 3] })), path.join(manyDir, 'rpms'));
  await signRpms(manyFiles.filter((_, i) => i % 3 !== 0), gpg, key.fingerprint);
  many = new Map();
  for (const file of manyFiles) many.set(path.basename(file), await readFile(file));
  manyRepo = await makeRepo(manyDir, many);

  gpgDir = path.join(work, 'gpg');
  await mkdir(gpgDir);
  server = await startHttpServer({ root: work });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await gpg?.cleanup();
  await rm(work, { recursive: true, force: true });
});

/** A context as sync-release builds it with gpgcheck on: verifyPackage and the keys it reads, fresh per sync. */
async function checkedContext(options: Partial<RepoOptions> = {}): Promise<MirrorSyncContext> {
  const dirs = await repoDirs(await mkdtemp(path.join(work, 'sync-')));
  const source = { gpgDir, extraKeyFiles: [] };
  const keyring = loadKeyring(source);
  const verifyPackage = async (file: string): Promise<PackageVerdict> => {
    mainThreadChecks++;
    const result = await verifyRpm(file, await keyring);
    return result.ok ? { ok: true } : result;
  };
  const verifyKeys = { source, signingKeys: async () => signingKeysOf(await keyring) };
  return { ...testContext(dirs, { verifyPackage, options: { gpgcheck: true, ...options } }), verifyKeys };
}

describe('kept staging threads', () => {
  it('read the keys again for each sync', async () => {
    const mirror = `${server.baseUrl}${path.relative(work, repo.root)}/`;
    const first = await syncFromMirror(mirror, await checkedContext());
    expect(first.admitted).toBe(0);
    expect(first.rejected.map((r) => r.reason)).toEqual(['unknown_key', 'unknown_key', 'unknown_key', 'unknown_key']);
    expect(parkedThreads()).toBeGreaterThan(0);

    await writeFile(path.join(gpgDir, 'signer.asc'), armored);
    const context = await checkedContext();
    const second = await syncFromMirror(mirror, context);
    expect(second).toMatchObject({ ok: true, admitted: 4, rejected: [] });
    expect(await readdir(context.packagesDir)).toHaveLength(4);
    expect(mainThreadChecks).toBe(0);
  });

  it('verify with the keys of their own sync, not with late keys of the sync before', async () => {
    const mirror = `${server.baseUrl}${path.relative(work, repo.root)}/`;
    await writeFile(path.join(gpgDir, 'signer.asc'), armored);
    const trusting = await checkedContext();
    expect(await syncFromMirror(mirror, trusting)).toMatchObject({ admitted: 4 });
    const { source } = trusting.verifyKeys!;
    const keysAfter = (ms: number, keyring: Promise<Keyring>) => async () => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return signingKeysOf(await keyring);
    };
    // A sync that has every package already ends before its keys (none trusted) are ready; its threads are parked
    // and taken by the next sync, whose own keys come later still.
    const early = await contextOn(trusting);
    const stale = { ...early, stateDir: path.join(early.stateDir, 'fresh'), verifyKeys: { source, signingKeys: keysAfter(300, loadKeyring({ gpgDir: path.join(work, 'no-keys') })) } };
    expect(await syncFromMirror(mirror, stale)).toMatchObject({ ok: true, admitted: 0, rejected: [] });
    expect(parkedThreads()).toBeGreaterThan(0);
    const later = await checkedContext();
    const next = { ...later, verifyKeys: { source, signingKeys: keysAfter(600, loadKeyring(source)) } };
    expect(await syncFromMirror(mirror, next)).toMatchObject({ ok: true, admitted: 4, rejected: [] });
    await rm(path.join(gpgDir, 'signer.asc'));
  });

  it('fail the sync, admitting and refusing nothing, when the keys cannot be prepared', async () => {
    const mirror = `${server.baseUrl}${path.relative(work, repo.root)}/`;
    const checked = await checkedContext();
    const context = { ...checked, verifyKeys: { source: checked.verifyKeys!.source, signingKeys: () => Promise.reject(new Error('no such keyring')) } };
    await expect(syncFromMirror(mirror, context)).rejects.toThrow(/the keys could not be loaded: no such keyring/);
    expect(await readdir(context.packagesDir)).toEqual([]);
    expect(await readdir(context.quarantineDir).catch(() => [])).toEqual([]);
  });

  it('check a signature node:crypto does not verify with OpenPGP.js and the keyring, loaded there', async () => {
    const mirror = `${server.baseUrl}${path.relative(work, ecdsaRepo.root)}/`;
    const refused = await syncFromMirror(mirror, await checkedContext());
    expect(refused.rejected).toMatchObject([{ reason: 'unknown_key' }]);

    await writeFile(path.join(gpgDir, 'ecdsa.asc'), ecdsaArmored);
    const context = await checkedContext();
    expect(await syncFromMirror(mirror, context)).toMatchObject({ ok: true, admitted: 1, rejected: [] });
    expect(await readdir(context.packagesDir)).toHaveLength(1);
    expect(mainThreadChecks).toBe(0);
    await rm(path.join(gpgDir, 'ecdsa.asc'));
  });

  it('admit packages refused for an unknown key from their quarantined copies once the key is added', async () => {
    await rm(path.join(gpgDir, 'signer.asc'), { force: true });
    const mirror = `${server.baseUrl}${path.relative(work, repo.root)}/`;
    const context = await checkedContext();
    const first = await syncFromMirror(mirror, context);
    expect(first.rejected.map((r) => r.reason)).toEqual(['unknown_key', 'unknown_key', 'unknown_key', 'unknown_key']);
    // Nothing changed: nothing is fetched or counted again, and the run after that is a no-op.
    expect(await syncFromMirror(mirror, await contextOn(context))).toMatchObject({ admitted: 0, rejected: [], unchanged: false });
    expect(await syncFromMirror(mirror, await contextOn(context))).toMatchObject({ unchanged: true });

    await writeFile(path.join(gpgDir, 'signer.asc'), armored);
    const start = server.requests.length;
    const third = await syncFromMirror(mirror, await contextOn(context));
    expect(third).toMatchObject({ ok: true, unchanged: false, admitted: 4, rejected: [] });
    expect(server.requests.slice(start).filter((request) => request.path.endsWith('.rpm'))).toEqual([]);
    expect(await readdir(context.packagesDir)).toHaveLength(4);
    expect(await readdir(context.quarantineDir)).toEqual([]);
  });
});

describe('staging threads holding packages in memory they use again', () => {
  // 12 transfers on the two threads, whose reads interleave; sizes of three classes, signed and unsigned ones mixed.
  // Memory handed out twice, or taken back before its package was staged, shows as a wrong file, a wrong verdict,
  // or a checksum mismatch and a second request for the package. With keys that come late, the first packages
  // wait for them, staged, while more arrive.
  it.each([0, 300])('stage many packages at once, each byte for byte and with its own verdict (keys after %i ms)', async (keysDelayMs) => {
    await writeFile(path.join(gpgDir, 'signer.asc'), armored);
    const checked = await checkedContext({ maxParallelDownloads: 12 });
    const { source, signingKeys } = checked.verifyKeys!;
    const context = { ...checked, verifyKeys: { source, signingKeys: () => sleep(keysDelayMs).then(signingKeys) } };
    const checksBefore = mainThreadChecks;
    const requestsBefore = server.requests.length;
    const result = await syncFromMirror(`${server.baseUrl}${path.relative(work, manyRepo.root)}/`, context);
    const unsigned = [...many.keys()].filter((name) => Number(/^many(\d+)-/.exec(name)?.[1]) % 3 === 0);
    expect(result).toMatchObject({ ok: true, admitted: many.size - unsigned.length });
    expect(result.rejected.map((r) => [r.file, r.reason]).sort()).toEqual(unsigned.map((name) => [name, 'unsigned']).sort());
    // Compared by digest: a deep comparison of a few MB takes vitest seconds.
    const digests = (files: Iterable<[string, Buffer]>) => new Map([...files].map(([name, data]): [string, string] => [name, sha('sha256', data)]).sort());
    expect(digests(await filesIn(context.packagesDir))).toEqual(digests([...many].filter(([name]) => !unsigned.includes(name))));
    const quarantined = await Promise.all(unsigned.map(async (name): Promise<[string, Buffer]> => [name, await readFile(path.join(context.quarantineDir, name))]));
    expect(digests(quarantined)).toEqual(digests([...many].filter(([name]) => unsigned.includes(name))));
    expect(mainThreadChecks).toBe(checksBefore);
    const fetched = server.requests.slice(requestsBefore).filter((request) => request.path.endsWith('.rpm'));
    expect(fetched.map((request) => path.basename(request.path)).sort()).toEqual([...many.keys()].sort());
    await rm(path.join(gpgDir, 'signer.asc'));
  });
});

/** checkedContext() on the dirs of `earlier`, with the keys read afresh. */
async function contextOn(earlier: MirrorSyncContext): Promise<MirrorSyncContext> {
  const fresh = await checkedContext();
  const { packagesDir, stagingDir, quarantineDir, stateDir } = earlier;
  return { ...fresh, packagesDir, stagingDir, quarantineDir, stateDir };
}

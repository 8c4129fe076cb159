// Issue 6 end to end: every kind of good, unsigned, wrongly signed and damaged package (rpmbuild + rpmsign with real
// gpg keys, damage made as the rpm tests make it) goes through WHOLE reposync runs of the real agent — scheduled by
// SyncInterval — from a local-dir mirror with gpgcheck on, the same mirror with the repo cfg saying gpgcheck=0, and the
// same files served over http with createrepo_c metadata. Checked: what is in Packages/, what is in quarantine with
// which reason JSON, the counters on a real GET /metrics, and `retrace-server-reposync --verify-only` on the lax repo.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { loadKeyring } from '../../src/gpg/keyring.js';
import { createLogger } from '../../src/log.js';
import { releaseName } from '../../src/plugins/release.js';
import type { SyncOutcome } from '../../src/reposync/outcome.js';
import type { RejectReason } from '../../src/reposync/types.js';
import { parseRpm } from '../../src/rpm/header.js';
import { verifyRpm } from '../../src/rpm/verify.js';
import { runCli } from '../support/cli.js';
import { createGpgHome, type GpgHome, type GpgKeyInfo } from '../support/gpg.js';
import { startHttpServer, type HttpServer } from '../support/http-server.js';
import { buildRpms, flip, offsetOf, readSignatureTags, rsaPrivateKeyFromGpg, signRpms, v3RsaSignaturePacket, withSignatureTags } from '../support/rpm.js';
import { createTestSpool, type TestSpool } from '../support/spool.js';

const log = createLogger({ name: 'test', level: 'silent' });

const STRICT = 'strict-1-x86_64';
const LAX = 'lax-1-x86_64';
const WEB = 'web-1-x86_64';

interface Case {
  /** What the sync must do with it under gpgcheck: admit it, or quarantine it for this reason. */
  readonly expected: 'admitted' | RejectReason;
  /** What the reason JSON's detail (or, for admitted ones, the verify-only line) must say. */
  readonly detail: RegExp;
  /** createrepo_c can read its header, so an http mirror lists it. */
  readonly indexed: boolean;
  /** With gpgcheck off, a local mirror (no checksums from metadata) still refuses it for this: rpm's digests fail. */
  readonly lax?: { readonly reason: RejectReason; readonly detail: RegExp };
}

const file = (name: string): string => `${name}-1.0-1.noarch.rpm`;

// The verdicts are those verifyRpm gives (asserted below against verifyRpm itself with the same GpgDir).
const CASES: Readonly<Record<string, Case>> = {
  [file('rsa-signed')]: { expected: 'admitted', detail: /^signed by [0-9A-F]{16}$/, indexed: true },
  [file('ed-signed')]: { expected: 'admitted', detail: /^signed by [0-9A-F]{16}$/, indexed: true },
  [file('v3-sig')]: { expected: 'admitted', detail: /^signed by [0-9A-F]{16}$/, indexed: true },
  [file('unsigned')]: { expected: 'unsigned', detail: /^no OpenPGP signature in the signature header/, indexed: true },
  [file('stranger')]: { expected: 'unknown_key', detail: /no trusted key has this key ID/, indexed: true },
  [file('hdr-flip')]: { expected: 'bad_signature', detail: /^tag 268: .*signed digest does not match/, indexed: true, lax: { reason: 'corrupt', detail: /^the header's SHA256 does not match/ } },
  [file('sig-flip')]: { expected: 'bad_signature', detail: /^tag 268: .*signature does not verify/, indexed: true },
  [file('payload-flip')]: { expected: 'payload_digest_mismatch', detail: /tag 5092/, indexed: true, lax: { reason: 'payload_digest_mismatch', detail: /tag 5092/ } },
  [file('truncated')]: { expected: 'corrupt', detail: /^truncated or extended: /, indexed: true, lax: { reason: 'corrupt', detail: /^truncated or extended: / } },
  [file('huge-header')]: { expected: 'corrupt', detail: /^header_too_large: /, indexed: false, lax: { reason: 'corrupt', detail: /^header_too_large: / } },
  // The keyring refuses an expired key when it loads, so the key is not trusted at all (the log says why).
  [file('expired-key')]: { expected: 'unknown_key', detail: /no trusted key has this key ID \(the key [0-9A-F]{40} in \S+ is not trusted: .*expired/, indexed: true },
  // Not a package at all: refused by the transport's lead check before any signature policy, gpgcheck=0 included.
  'not-an-rpm.rpm': { expected: 'corrupt', detail: /^no RPM lead magic/, indexed: false, lax: { reason: 'corrupt', detail: /^no RPM lead magic/ } },
};
const ALL = Object.keys(CASES).sort();
const ADMITTED = ALL.filter((name) => CASES[name]?.expected === 'admitted');
const REJECTED = ALL.filter((name) => CASES[name]?.expected !== 'admitted');
// A gpgcheck=0 repo from a local dir admits whatever has an RPM lead and matching digests, whoever signed it.
const LAX_ADMITTED = ALL.filter((name) => CASES[name]?.lax === undefined);
const LAX_REJECTED = ALL.filter((name) => CASES[name]?.lax !== undefined);
const REASONS: readonly RejectReason[] = ['unsigned', 'unknown_key', 'bad_signature', 'payload_digest_mismatch', 'corrupt', 'unsupported_algorithm', 'checksum_mismatch'];

function sample(body: string, name: string, labels: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function count(names: readonly string[], reason: RejectReason): number {
  return names.filter((name) => CASES[name]?.expected === reason).length;
}

describe('package signatures through whole reposync runs (issue 6)', () => {
  let spool: TestSpool;
  let gpg: GpgHome;
  let server: HttpServer;
  let mirror: string;
  let gpgDir: string;
  let configPath: string;
  let pluginDir: string;
  let keys: Record<'rsa' | 'ed' | 'stranger' | 'expired', GpgKeyInfo>;
  /** Each release's first run in the agent, and /metrics fetched the moment it ended. */
  const outcomes = new Map<string, SyncOutcome>();
  const bodies = new Map<string, string>();

  beforeAll(async () => {
    spool = await createTestSpool();
    gpg = await createGpgHome();
    // One at a time: parallel gpg runs race to create the keyring files of a fresh home.
    keys = {
      rsa: await gpg.generateKey('RSA Signer <rsa@test>', { algorithm: 'rsa3072' }),
      ed: await gpg.generateKey('Ed Signer <ed@test>'),
      stranger: await gpg.generateKey('Stranger <stranger@test>'),
      expired: await gpg.generateKey('Old Signer <old@test>', { createdAt: new Date('2020-01-01T00:00:00Z'), expire: '1y' }),
    };
    gpgDir = join(spool.root, 'gpg');
    await mkdir(gpgDir);
    await writeFile(join(gpgDir, 'RPM-GPG-KEY-test'), await gpg.exportArmored([keys.rsa.fingerprint, keys.ed.fingerprint]));
    await writeFile(join(gpgDir, 'RPM-GPG-KEY-old'), await gpg.exportArmored([keys.expired.fingerprint]));

    mirror = join(spool.root, 'mirror');
    const names = ['rsa-signed', 'ed-signed', 'v3-sig', 'unsigned', 'stranger', 'hdr-flip', 'sig-flip', 'payload-flip', 'truncated', 'huge-header', 'expired-key'];
    const built = await buildRpms(names.map((name) => ({ name, version: '1.0', release: '1', payloadBytes: 20_000 })), mirror);
    const path = (name: string): string => built[names.indexOf(name)] ?? '';
    const byRsa = ['rsa-signed', 'v3-sig', 'hdr-flip', 'sig-flip', 'payload-flip', 'truncated', 'huge-header'];
    await Promise.all([
      signRpms(byRsa.map(path), gpg, keys.rsa.fingerprint),
      signRpms([path('ed-signed')], gpg, keys.ed.fingerprint),
      signRpms([path('stranger')], gpg, keys.stranger.fingerprint),
      // gpg will not sign with an expired key: sign as of mid-2020, while the key was valid.
      signRpms([path('expired-key')], gpg, keys.expired.fingerprint, ['--define', '_gpg_sign_cmd_extra_args --faked-system-time 20200601T000000']),
    ]);

    const rewrite = async (name: string, change: (bytes: Buffer) => Buffer): Promise<void> => {
      await writeFile(path(name), change(await readFile(path(name))));
    };
    await rewrite('hdr-flip', (bytes) => flip(bytes, offsetOf(bytes, 'Test package hdr-flip.') + 5));
    await rewrite('sig-flip', (bytes) => {
      const packet = readSignatureTags(bytes).get(268)?.data;
      if (!packet) throw new Error('no tag 268');
      return flip(bytes, offsetOf(bytes, packet) + packet.length - 3);
    });
    await rewrite('payload-flip', (bytes) => {
      const { headerEnd } = parseRpm(bytes);
      return flip(bytes, headerEnd + Math.floor((bytes.length - headerEnd) / 2));
    });
    await rewrite('truncated', (bytes) => {
      const { headerEnd } = parseRpm(bytes);
      return bytes.subarray(0, headerEnd + Math.floor((bytes.length - headerEnd) / 2));
    });
    await rewrite('huge-header', (bytes) => {
      const copy = Buffer.from(bytes);
      copy.writeUInt32BE(0xffffffff, parseRpm(bytes).headerStart + 12);
      return copy;
    });
    const privateKey = await rsaPrivateKeyFromGpg(gpg, keys.rsa.fingerprint);
    await rewrite('v3-sig', (bytes) => {
      const packet = v3RsaSignaturePacket({ data: parseRpm(bytes).header.blob, privateKey, keyId: keys.rsa.keyIds[0] ?? '', created: new Date() });
      return withSignatureTags(bytes, { 268: packet });
    });
    await writeFile(join(mirror, 'not-an-rpm.rpm'), '<html>404 Not Found</html>\n');
    expect((await readdir(mirror)).sort()).toEqual(ALL);

    // The http mirror: createrepo_c over the (already damaged) files, so the metadata checksums match them and the
    // signature check decides. Files it cannot read are left out of primary.xml.
    await execa('createrepo_c', ['--no-database', '--quiet', mirror], { reject: false });
    server = await startHttpServer({ root: mirror });

    pluginDir = join(spool.root, 'plugins');
    await mkdir(pluginDir);
    const plugin = (dist: string, repos: string): Promise<void> =>
      writeFile(join(pluginDir, `${dist}.py`), `distribution = "${dist}"\nrepos = ${repos}\n`);
    await plugin('strict', `[[${JSON.stringify(mirror)}]]`);
    await plugin('lax', `[([${JSON.stringify(mirror)}], "gpgcheck=0")]`);
    await plugin('web', `[[${JSON.stringify(server.baseUrl)}]]`);
    // RequireGPGCheck is on by default.
    configPath = await spool.writeConfig([`SyncReleases = ${STRICT} ${LAX} ${WEB}`, 'SyncInterval = 1']);

    // The real agent: its schedule runs each release within SyncInterval; the counters change when a run ends, so
    // /metrics is read as soon as a release's first run ends (its next run starts ≥ 0.9 s later).
    const agent = await Agent.start({ configPath, pluginDir, log });
    try {
      const pending: Promise<void>[] = [];
      agent.reposync.on('synced', (release, outcome) => {
        const name = releaseName(release);
        if (outcomes.has(name)) return;
        outcomes.set(name, outcome);
        pending.push(fetch(`http://127.0.0.1:${agent.listenAddress.port}/metrics`).then(async (res) => {
          bodies.set(name, await res.text());
        }));
      });
      const deadline = Date.now() + 30_000;
      while (outcomes.size < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await Promise.all(pending);
    } finally {
      await agent.stop();
    }
  }, 90_000);

  afterAll(async () => {
    await server?.stop();
    await gpg?.cleanup();
    await spool?.cleanup();
  });

  const packagesOf = async (repo: string): Promise<string[]> => (await readdir(join(spool.root, 'repos', repo, 'Packages'))).sort();
  const quarantineOf = async (repo: string): Promise<string[]> => {
    const dir = join(spool.root, 'repos', `${repo}.quarantine`);
    return existsSync(dir) ? (await readdir(dir)).sort() : [];
  };
  const reasonOf = async (repo: string, name: string): Promise<Record<string, unknown>> =>
    JSON.parse(await readFile(join(spool.root, 'repos', `${repo}.quarantine`, `${name}.reason.json`), 'utf8')) as Record<string, unknown>;

  it('the expected verdicts are exactly what verifyRpm gives with the keys in GpgDir', async () => {
    const keyring = await loadKeyring({ gpgDir });
    expect(keyring.keys.map((key) => key.fingerprint).sort()).toEqual([keys.rsa.fingerprint, keys.ed.fingerprint].sort());
    expect(keyring.problems).toMatchObject([{ reason: 'expired' }]);
    for (const name of ALL) {
      if (name === 'not-an-rpm.rpm') continue;
      const result = await verifyRpm(join(mirror, name), keyring);
      const expected = CASES[name];
      expect(result.ok ? 'admitted' : result.reason, name).toBe(expected?.expected);
      if (!result.ok) expect(result.detail, name).toMatch(expected?.detail ?? /^$/);
    }
    const ok = async (name: string): Promise<unknown> => verifyRpm(join(mirror, file(name)), keyring);
    expect(await ok('rsa-signed')).toEqual({ ok: true, fingerprint: keys.rsa.fingerprint, keyId: keys.rsa.keyIds[0], tag: 268, payloadDigestChecked: true });
    expect(await ok('ed-signed')).toEqual({ ok: true, fingerprint: keys.ed.fingerprint, keyId: keys.ed.keyIds[0], tag: 267, payloadDigestChecked: true });
    expect(await ok('v3-sig')).toEqual({ ok: true, fingerprint: keys.rsa.fingerprint, keyId: keys.rsa.keyIds[0], tag: 268, payloadDigestChecked: true });
    // The crafted packet really is V3 (OpenPGP.js cannot read it), and the expired key's signature is from 2020.
    expect(readSignatureTags(await readFile(join(mirror, file('v3-sig')))).get(268)?.data[3]).toBe(3);
    expect(await verifyRpm(join(mirror, file('expired-key')), keyring)).toMatchObject({ ok: false, detail: expect.stringContaining(keys.expired.keyIds[0] ?? '?') });
  });

  it('the agent ran every release once, from its schedule', () => {
    expect([...outcomes.keys()].sort()).toEqual([LAX, STRICT, WEB]);
    expect([...bodies.keys()].sort()).toEqual([LAX, STRICT, WEB]);
  });

  it('gpgcheck on, local mirror: only the good packages enter Packages/, every other one is quarantined with its reason', async () => {
    const outcome = outcomes.get(STRICT);
    expect(outcome).toMatchObject({ exitCode: 0, aborted: false });
    const rejected = Object.fromEntries(REASONS.flatMap((reason) => (count(ALL, reason) > 0 ? [[reason, count(ALL, reason)]] : [])));
    expect(rejected).toEqual({ unsigned: 1, unknown_key: 2, bad_signature: 2, payload_digest_mismatch: 1, corrupt: 3 });
    expect(outcome?.record).toMatchObject({ admitted: 3, rejected });

    expect(await packagesOf(STRICT)).toEqual([file('ed-signed'), file('rsa-signed'), file('v3-sig')]);
    expect(ADMITTED).toEqual(await packagesOf(STRICT));
    expect(await quarantineOf(STRICT)).toEqual(REJECTED.flatMap((name) => [name, `${name}.reason.json`]).sort());
    for (const name of REJECTED) {
      const record = await reasonOf(STRICT, name);
      expect(record, name).toMatchObject({ file: name, reason: CASES[name]?.expected, mirror });
      expect(record.detail, name).toMatch(CASES[name]?.detail ?? /^$/);
      // The quarantined file is the one the mirror offered, byte for byte.
      expect((await readFile(join(spool.root, 'repos', `${STRICT}.quarantine`, name))).equals(await readFile(join(mirror, name))), name).toBe(true);
    }
    // createrepo_c indexed exactly what was admitted.
    const primary = await execa('sh', ['-c', `zcat ${join(spool.root, 'repos', STRICT, 'repodata')}/*primary.xml.gz`]);
    expect([...primary.stdout.matchAll(/<location href="Packages\/([^"]+)"/g)].map((m) => m[1]).sort()).toEqual(ADMITTED);
  });

  it('the counters on GET /metrics say the same, by reason', () => {
    const body = bodies.get(STRICT) ?? '';
    const rejectedTotal = (reason: string): number | undefined =>
      sample(body, 'retrace_agent_repo_packages_rejected_total', `repo="${STRICT}",reason="${reason}"`);
    expect(rejectedTotal('unsigned')).toBe(1);
    expect(rejectedTotal('unknown_key')).toBe(2);
    expect(rejectedTotal('bad_signature')).toBe(2);
    expect(rejectedTotal('payload_digest_mismatch')).toBe(1);
    expect(rejectedTotal('corrupt')).toBe(3);
    expect(rejectedTotal('unsupported_algorithm')).toBe(0);
    expect(rejectedTotal('checksum_mismatch')).toBe(0);
    expect(sample(body, 'retrace_agent_repo_packages_downloaded_total', `repo="${STRICT}"`)).toBe(3);
    expect(sample(body, 'retrace_agent_repo_packages', `repo="${STRICT}"`)).toBe(3);
    expect(sample(body, 'retrace_agent_repo_sync_failures_total', `repo="${STRICT}"`)).toBe(0);
  });

  it('gpgcheck=0 in the repo cfg: every RPM is admitted whoever signed it, unless its digests fail; a non-RPM is not', async () => {
    const laxCount = (reason: RejectReason): number => LAX_REJECTED.filter((name) => CASES[name]?.lax?.reason === reason).length;
    expect(outcomes.get(LAX)).toMatchObject({
      exitCode: 0,
      aborted: false,
      record: { admitted: LAX_ADMITTED.length, rejected: { corrupt: laxCount('corrupt'), payload_digest_mismatch: laxCount('payload_digest_mismatch') } },
    });
    expect(await packagesOf(LAX)).toEqual(LAX_ADMITTED);
    expect(await quarantineOf(LAX)).toEqual(LAX_REJECTED.flatMap((name) => [name, `${name}.reason.json`]).sort());
    for (const name of LAX_REJECTED) {
      const { reason, detail } = CASES[name]?.lax ?? { reason: undefined, detail: /^$/ };
      expect(await reasonOf(LAX, name), name).toMatchObject({ reason, detail: expect.stringMatching(detail) });
    }

    const body = bodies.get(LAX) ?? '';
    expect(sample(body, 'retrace_agent_repo_packages_downloaded_total', `repo="${LAX}"`)).toBe(LAX_ADMITTED.length);
    for (const reason of REASONS) {
      expect(sample(body, 'retrace_agent_repo_packages_rejected_total', `repo="${LAX}",reason="${reason}"`), reason).toBe(laxCount(reason));
    }
  });

  it('--verify-only on the gpgcheck=0 repo reports every bad package NOT OK with the same reason, and exits 7', async () => {
    const before = await packagesOf(LAX);
    const result = await runCli('reposync', ['--verify-only', 'lax', '1', 'x86_64', '--config', configPath, '--plugin-dir', pluginDir], {
      env: { RETRACE_SERVER_TESTING: '1' },
    });
    expect(result.code, result.stderr).toBe(7);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines.map((line) => line.slice(0, line.indexOf(':')))).toEqual(LAX_ADMITTED);
    for (const [index, name] of LAX_ADMITTED.entries()) {
      const line = lines[index] ?? '';
      const expected = CASES[name];
      if (expected?.expected === 'admitted') {
        expect(line).toMatch(new RegExp(`^${name.replaceAll('.', '\\.')}: OK \\(signed by [0-9A-F]{16}\\)$`));
        continue;
      }
      const match = /^[^:]+: NOT OK \((?<reason>[a-z_]+): (?<detail>.*)\)$/.exec(line);
      expect(match?.groups?.reason, line).toBe(expected?.expected);
      expect(match?.groups?.detail, line).toMatch(expected?.detail ?? /^$/);
      // The same verdict the gpgcheck=1 sync wrote into quarantine.
      expect((await reasonOf(STRICT, name)).reason, name).toBe(match?.groups?.reason);
    }
    expect(await packagesOf(LAX)).toEqual(before);
  });

  it('over http (createrepo_c metadata, checksums matching the damaged files) the signature check decides the same', async () => {
    const indexed = ALL.filter((name) => CASES[name]?.indexed);
    const indexedRejected = indexed.filter((name) => CASES[name]?.expected !== 'admitted');
    const outcome = outcomes.get(WEB);
    expect(outcome).toMatchObject({ exitCode: 0, aborted: false, record: { admitted: ADMITTED.length } });
    expect(Object.values(outcome?.record?.rejected ?? {}).reduce((sum, n) => sum + n, 0)).toBe(indexedRejected.length);
    expect(await packagesOf(WEB)).toEqual(ADMITTED);
    expect(await quarantineOf(WEB)).toEqual(indexedRejected.flatMap((name) => [name, `${name}.reason.json`]).sort());
    for (const name of indexedRejected) {
      expect(await reasonOf(WEB, name), name).toMatchObject({ file: name, reason: CASES[name]?.expected, detail: expect.stringMatching(CASES[name]?.detail ?? /^$/) });
    }
    // Files createrepo_c could not read were never offered, so never fetched.
    for (const name of ALL.filter((n) => !CASES[n]?.indexed)) {
      expect(server.requests.some((request) => request.path === `/${name}`), name).toBe(false);
    }
    const body = bodies.get(WEB) ?? '';
    for (const reason of REASONS) {
      expect(sample(body, 'retrace_agent_repo_packages_rejected_total', `repo="${WEB}",reason="${reason}"`), reason).toBe(count(indexed, reason));
    }
    expect(sample(body, 'retrace_agent_repo_packages_downloaded_total', `repo="${WEB}"`)).toBe(ADMITTED.length);
  });
});

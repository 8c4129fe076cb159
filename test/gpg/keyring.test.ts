import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKeyring, type Keyring } from '../../src/gpg/keyring.js';
import { resolveGpgKeyPaths } from '../../src/plugins/release.js';
import { createGpgHome, type GpgHome, type GpgKeyInfo } from '../support/gpg.js';

let gpg: GpgHome;
let scratch: string;
let rsa: GpgKeyInfo;
let ed: GpgKeyInfo;
let ed2: GpgKeyInfo;
let expired: GpgKeyInfo;
let weakRsa: GpgKeyInfo;
let dsa: GpgKeyInfo;
let revoked: GpgKeyInfo;
let revokedArmorBefore: string;
let signSubkey: GpgKeyInfo;
let noSigning: GpgKeyInfo;

beforeAll(async () => {
  gpg = await createGpgHome();
  scratch = await mkdtemp(path.join(tmpdir(), 'keyring-test-'));
  rsa = await gpg.generateKey('RSA Signer <rsa@example.test>', { algorithm: 'rsa3072' });
  ed = await gpg.generateKey('Ed Signer <ed@example.test>');
  ed2 = await gpg.generateKey('Ed Two <ed2@example.test>');
  expired = await gpg.generateKey('Old Signer <old@example.test>', { createdAt: new Date('2020-01-01T00:00:00Z'), expire: '1y' });
  weakRsa = await gpg.generateKey('Weak RSA <weak@example.test>', { algorithm: 'rsa1024' });
  dsa = await gpg.generateKey('DSA Signer <dsa@example.test>', { algorithm: 'dsa2048' });
  revoked = await gpg.generateKey('Revoked Signer <revoked@example.test>');
  revokedArmorBefore = await gpg.exportArmored([revoked.fingerprint]);
  await gpg.revoke(revoked.fingerprint);
  // Primary can only certify: signing is done by the subkey, as on distribution keys with signing subkeys.
  const certOnly = await gpg.generateKey('Subkey Signer <sub@example.test>', { usage: 'cert' });
  signSubkey = await gpg.addSubkey(certOnly.fingerprint, 'ed25519', 'sign');
  const encryptOnly = await gpg.generateKey('Encrypt Only <enc@example.test>', { usage: 'cert' });
  noSigning = await gpg.addSubkey(encryptOnly.fingerprint, 'cv25519', 'encr');
});

afterAll(async () => {
  await gpg?.cleanup();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** A fresh GpgDir holding the given files. */
async function keyDir(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await mkdtemp(path.join(scratch, 'dir-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return dir;
}

const fingerprints = (keyring: Keyring): string[] => keyring.keys.map((key) => key.fingerprint);

describe('loadKeyring', () => {
  it('trusts RSA and Ed25519 keys from armored and binary files, with the ids gpg reports', async () => {
    const dir = await keyDir({
      'RPM-GPG-KEY-rsa': await gpg.exportArmored([rsa.fingerprint]),
      'ed.gpg': await gpg.exportBinary([ed.fingerprint]),
    });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.problems).toEqual([]);
    expect(keyring.keys.map(({ key: _key, ...rest }) => rest)).toEqual([
      {
        fingerprint: rsa.fingerprint,
        keyIds: rsa.keyIds,
        userIds: ['RSA Signer <rsa@example.test>'],
        algorithm: 'rsaEncryptSign/3072',
        file: path.join(dir, 'RPM-GPG-KEY-rsa'),
        files: [path.join(dir, 'RPM-GPG-KEY-rsa')],
      },
      {
        fingerprint: ed.fingerprint,
        keyIds: ed.keyIds,
        userIds: ['Ed Signer <ed@example.test>'],
        algorithm: 'eddsaLegacy/ed25519Legacy',
        file: path.join(dir, 'ed.gpg'),
        files: [path.join(dir, 'ed.gpg')],
      },
    ]);
    expect(keyring.keys[0]?.key.getFingerprint().toUpperCase()).toBe(rsa.fingerprint);
  });

  it('finds keys by primary or subkey id, in any case', async () => {
    const dir = await keyDir({ 'sub.asc': await gpg.exportArmored([signSubkey.fingerprint]), 'ed.asc': await gpg.exportArmored([ed.fingerprint]) });
    const keyring = await loadKeyring({ gpgDir: dir });
    const [primaryId, subkeyId] = signSubkey.keyIds;

    expect(keyring.problems).toEqual([]);
    expect(signSubkey.keyIds).toHaveLength(2);
    expect(keyring.findByKeyId(subkeyId ?? '').map((key) => key.fingerprint)).toEqual([signSubkey.fingerprint]);
    expect(keyring.findByKeyId((primaryId ?? '').toLowerCase()).map((key) => key.fingerprint)).toEqual([signSubkey.fingerprint]);
    expect(keyring.findByKeyId(ed.keyIds[0] ?? '').map((key) => key.fingerprint)).toEqual([ed.fingerprint]);
    expect(keyring.findByKeyId('0123456789ABCDEF')).toEqual([]);
  });

  it('reads every armor block of a file, every key of one block, and CRLF armor after a BOM', async () => {
    const twoBlocks = (await gpg.exportArmored([rsa.fingerprint])) + 'text between blocks\n' + (await gpg.exportArmored([ed.fingerprint]));
    const dir = await keyDir({
      'two-blocks.asc': twoBlocks,
      'one-block-two-keys.asc': await gpg.exportArmored([ed2.fingerprint, signSubkey.fingerprint]),
    });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.problems).toEqual([]);
    expect(fingerprints(keyring)).toEqual([ed2.fingerprint, signSubkey.fingerprint, rsa.fingerprint, ed.fingerprint]);

    const windows = await keyDir({ 'windows.asc': '\uFEFF' + (await gpg.exportArmored([ed.fingerprint])).replaceAll('\n', '\r\n') });
    const fromWindows = await loadKeyring({ gpgDir: windows });
    expect(fromWindows.problems).toEqual([]);
    expect(fingerprints(fromWindows)).toEqual([ed.fingerprint]);
  });

  it('reads every key of a binary file', async () => {
    const dir = await keyDir({ 'keys.gpg': await gpg.exportBinary([rsa.fingerprint, ed.fingerprint, ed2.fingerprint]) });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.problems).toEqual([]);
    expect(new Set(fingerprints(keyring))).toEqual(new Set([rsa.fingerprint, ed.fingerprint, ed2.fingerprint]));
    expect(keyring.keys).toHaveLength(3);
  });

  it('reports an expired key with its fingerprint and does not trust it', async () => {
    const dir = await keyDir({ 'old.asc': await gpg.exportArmored([expired.fingerprint]), 'ed.asc': await gpg.exportArmored([ed.fingerprint]) });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(fingerprints(keyring)).toEqual([ed.fingerprint]);
    expect(keyring.problems).toEqual([
      { file: path.join(dir, 'old.asc'), fingerprint: expired.fingerprint, reason: 'expired', detail: 'expired on 2020-12-31T00:00:00.000Z' },
    ]);
    expect(keyring.findByKeyId(expired.keyIds[0] ?? '')).toEqual([]);
  });

  it('judges expiry at `now`', async () => {
    const dir = await keyDir({ 'old.asc': await gpg.exportArmored([expired.fingerprint]) });
    const keyring = await loadKeyring({ gpgDir: dir, now: new Date('2020-06-01T00:00:00Z') });

    expect(keyring.problems).toEqual([]);
    expect(fingerprints(keyring)).toEqual([expired.fingerprint]);
  });

  it('reports keys too weak for OpenPGP.js: RSA 1024 and DSA', async () => {
    const dir = await keyDir({ 'dsa.asc': await gpg.exportArmored([dsa.fingerprint]), 'weak.gpg': await gpg.exportBinary([weakRsa.fingerprint]) });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.keys).toEqual([]);
    expect(keyring.problems.map(({ detail: _detail, ...rest }) => rest)).toEqual([
      { file: path.join(dir, 'dsa.asc'), fingerprint: dsa.fingerprint, reason: 'weak' },
      { file: path.join(dir, 'weak.gpg'), fingerprint: weakRsa.fingerprint, reason: 'weak' },
    ]);
    expect(keyring.problems[1]?.detail).toMatch(/RSA keys shorter than 2047 bits/);
  });

  it('reports a revoked key', async () => {
    const dir = await keyDir({ 'revoked.asc': await gpg.exportArmored([revoked.fingerprint]) });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.keys).toEqual([]);
    expect(keyring.problems).toEqual([
      { file: path.join(dir, 'revoked.asc'), fingerprint: revoked.fingerprint, reason: 'revoked', detail: 'primary key is revoked' },
    ]);
  });

  it('reports a key without any signing key', async () => {
    const dir = await keyDir({ 'enc.asc': await gpg.exportArmored([noSigning.fingerprint]) });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.keys).toEqual([]);
    expect(keyring.problems).toMatchObject([{ file: path.join(dir, 'enc.asc'), fingerprint: noSigning.fingerprint, reason: 'no_signing_key' }]);
  });

  it('reports corrupt files as unparsable and keeps the good blocks of a file', async () => {
    const good = await gpg.exportArmored([ed.fingerprint]);
    const lines = (await gpg.exportArmored([rsa.fingerprint])).split('\n');
    // Drop a base64 line from the middle: the key packet is cut short.
    const truncated = [...lines.slice(0, 5), ...lines.slice(7)].join('\n');
    const binary = await gpg.exportBinary([rsa.fingerprint]);
    const dir = await keyDir({
      'a-text.txt': 'not a key\n',
      'b-mixed.asc': truncated + good,
      'c-binary.gpg': binary.slice(0, 100),
      'd-empty': '',
    });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(fingerprints(keyring)).toEqual([ed.fingerprint]);
    expect(keyring.keys[0]?.file).toBe(path.join(dir, 'b-mixed.asc'));
    expect(keyring.problems.map(({ detail: _detail, ...rest }) => rest)).toEqual(
      ['a-text.txt', 'b-mixed.asc', 'c-binary.gpg', 'd-empty'].map((name) => ({
        file: path.join(dir, name),
        fingerprint: undefined,
        reason: 'unparsable',
      })),
    );
    expect(keyring.problems[1]?.detail).toMatch(/^key block 1: /);
    expect(keyring.problems[3]?.detail).toBe('empty file');
  });

  it('trusts a key found in two files once, listing both files', async () => {
    const dir = await keyDir({
      'b.asc': await gpg.exportArmored([ed.fingerprint]),
      'a.gpg': await gpg.exportBinary([ed.fingerprint]),
      'c.asc': await gpg.exportArmored([rsa.fingerprint]),
    });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.problems).toEqual([]);
    expect(fingerprints(keyring)).toEqual([ed.fingerprint, rsa.fingerprint]);
    expect(keyring.keys[0]?.files).toEqual([path.join(dir, 'a.gpg'), path.join(dir, 'b.asc')]);
    expect(keyring.findByKeyId(ed.keyIds[0] ?? '')).toHaveLength(1);
  });

  it('does not let a stale copy of a key hide its revocation in another file', async () => {
    const dir = await keyDir({ 'a-stale.asc': revokedArmorBefore, 'b-revoked.asc': await gpg.exportArmored([revoked.fingerprint]) });
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.keys).toEqual([]);
    expect(keyring.problems).toEqual([
      {
        file: path.join(dir, 'a-stale.asc'),
        fingerprint: revoked.fingerprint,
        reason: 'revoked',
        detail: `primary key is revoked (also in ${path.join(dir, 'b-revoked.asc')})`,
      },
    ]);
  });

  it('adds extra key files after GpgDir and resolves {release} templates', async () => {
    const extra = await keyDir({ 'RPM-GPG-KEY-test-40': await gpg.exportArmored([rsa.fingerprint]) });
    const dir = await keyDir({ 'ed.asc': await gpg.exportArmored([ed.fingerprint]) });
    const extraKeyFiles = resolveGpgKeyPaths([path.join(extra, 'RPM-GPG-KEY-test-{release}'), path.join(extra, 'missing-{release}')], '40');
    const keyring = await loadKeyring({ gpgDir: dir, extraKeyFiles });

    expect(extraKeyFiles).toEqual([path.join(extra, 'RPM-GPG-KEY-test-40'), path.join(extra, 'missing-40')]);
    expect(keyring.keys.map((key) => [key.fingerprint, key.file])).toEqual([
      [ed.fingerprint, path.join(dir, 'ed.asc')],
      [rsa.fingerprint, path.join(extra, 'RPM-GPG-KEY-test-40')],
    ]);
    expect(keyring.problems).toMatchObject([{ file: path.join(extra, 'missing-40'), fingerprint: undefined, reason: 'unreadable' }]);
  });

  it('skips dotfiles and subdirectories but follows symlinks to key files', async () => {
    const armored = await gpg.exportArmored([rsa.fingerprint]);
    const dir = await keyDir({ '.hidden.asc': armored, 'sub/key.asc': armored, 'real/ed.asc': await gpg.exportArmored([ed.fingerprint]) });
    await symlink(path.join(dir, 'real', 'ed.asc'), path.join(dir, 'ed-link.asc'));
    const keyring = await loadKeyring({ gpgDir: dir });

    expect(keyring.problems).toEqual([]);
    expect(keyring.keys.map((key) => [key.fingerprint, key.file])).toEqual([[ed.fingerprint, path.join(dir, 'ed-link.asc')]]);
  });

  it('reports a missing GpgDir instead of throwing', async () => {
    const gpgDir = path.join(scratch, 'no-such-dir');
    const keyring = await loadKeyring({ gpgDir });

    expect(keyring.keys).toEqual([]);
    expect(keyring.problems).toMatchObject([
      { file: gpgDir, fingerprint: undefined, reason: 'unreadable', detail: expect.stringContaining('ENOENT') },
    ]);
  });
});

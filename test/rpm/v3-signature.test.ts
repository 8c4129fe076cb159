// OpenPGP V3 signature packets: GnuPG 2 no longer makes them, so the test signs the header itself with the RSA key
// gpg made, puts the packet into tag 268, and has rpm itself confirm that the crafted package is valid.
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMessage, readKey, readSignature, verify as openpgpVerify } from 'openpgp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadKeyring, type Keyring } from '../../src/gpg/keyring.js';
import { parseRpm } from '../../src/rpm/header.js';
import { parseSignaturePacket } from '../../src/rpm/signature-packet.js';
import { verifyRpm, verifyRpmBytes } from '../../src/rpm/verify.js';
import { createGpgHome, type GpgHome, type GpgKeyInfo } from '../support/gpg.js';
import { buildRpm, rsaPrivateKeyFromGpg, signRpms, v3RsaSignaturePacket, withSignatureTags } from '../support/rpm.js';

let dir: string;
let gpg: GpgHome;
let rsa: GpgKeyInfo;
let keyring: Keyring;
/** The rpmsign output (V4 packet in tag 268) and copies whose tag 268 holds a V3 packet. */
let v4: Buffer;
let v3: Buffer;
let v3Sha512: Buffer;
let v3File: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'verify-v3-'));
  gpg = await createGpgHome();
  rsa = await gpg.generateKey('V3 Signer <v3@test>', { algorithm: 'rsa3072' });
  const file = await buildRpm({ name: 'v3-pkg', version: '2.0', release: '1', payloadBytes: 30_000, outDir: dir });
  await signRpms([file], gpg, rsa.fingerprint);
  v4 = await readFile(file);

  const privateKey = await rsaPrivateKeyFromGpg(gpg, rsa.fingerprint);
  const { header } = parseRpm(v4);
  // Not before the key: a signature older than its key is rejected (tested below).
  const created = new Date();
  const sign = (hash: 'sha256' | 'sha512'): Buffer =>
    withSignatureTags(v4, { 268: v3RsaSignaturePacket({ data: header.blob, privateKey, keyId: rsa.keyIds[0]!, created, hash }) });
  v3 = sign('sha256');
  v3Sha512 = sign('sha512');
  v3File = path.join(dir, 'v3-pkg-2.0-1.noarch.v3.rpm');
  await writeFile(v3File, v3);

  await writeFile(path.join(dir, 'key.asc'), await gpg.exportArmored([rsa.fingerprint]));
  keyring = await loadKeyring({ gpgDir: dir, extraKeyFiles: [] });
  expect(keyring.keys.map((key) => key.fingerprint)).toEqual([rsa.fingerprint]);
}, 60_000);

afterAll(async () => {
  await gpg?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the crafted package carries a V3 packet where rpmsign put a V4 one', () => {
  const packet = (bytes: Buffer) => parseRpm(bytes).signature.bin(268)!;
  expect(parseSignaturePacket(packet(v4))).toMatchObject({ kind: 'parsed', signature: { version: 4 } });
  expect(parseSignaturePacket(packet(v3))).toMatchObject({
    kind: 'parsed',
    signature: { version: 3, publicKeyAlgorithm: 1, hashAlgorithm: 8, issuerKeyId: rsa.keyIds[0] },
  });
  // The packet sizes differ, so the signature header was rebuilt rather than patched.
  expect(packet(v3).length).not.toBe(packet(v4).length);
});

test('rpm itself accepts the crafted V3 package ("Header V3 RSA/SHA256 Signature: OK")', async () => {
  const db = await mkdtemp(path.join(tmpdir(), 'rpmdb-'));
  try {
    await execa('rpmkeys', ['--dbpath', db, '--import', path.join(dir, 'key.asc')]);
    const { stdout } = await execa('rpmkeys', ['--dbpath', db, '--define', '_pkgverify_level all', '-Kv', v3File]);
    expect(stdout).toMatch(/Header V3 RSA\/SHA256 Signature, key ID [0-9a-f]+: OK/);
    expect(stdout).toMatch(/Payload SHA256 digest: OK/);
  } finally {
    await rm(db, { recursive: true, force: true });
  }
});

test('V3 packets verify through the node:crypto fallback (tag 268), SHA-256 and SHA-512', async () => {
  const expected = { ok: true, fingerprint: rsa.fingerprint, keyId: rsa.keyIds[0], tag: 268, payloadDigestChecked: true };
  expect(await verifyRpm(v3File, keyring)).toEqual(expected);
  expect(await verifyRpmBytes(v3Sha512, keyring)).toEqual(expected);
});

test('OpenPGP.js alone cannot verify the V3 packet', async () => {
  const { header, signature } = parseRpm(v3);
  const packet = signature.bin(268)!;
  // With its default config OpenPGP.js reads the packet, keeps it as unparseable and then claims no signature.
  const verification = openpgpVerify({
    message: await createMessage({ binary: header.blob }),
    signature: await readSignature({ binarySignature: packet }),
    verificationKeys: await readKey({ armoredKey: await readFile(path.join(dir, 'key.asc'), 'utf8') }),
    expectSigned: true,
    format: 'binary',
  });
  await expect(verification).rejects.toThrow(/not signed/);
  const result = await verifyRpmBytes(v3, keyring, { engine: 'openpgp' });
  expect(result).toMatchObject({ ok: false, reason: 'unsupported_algorithm' });
  expect(!result.ok && result.detail).toMatch(/Version 3/);
});

test('a V3 signature over a changed header, or with a changed value, is rejected', async () => {
  const text = v3.indexOf('Test package v3-pkg.');
  const header = Buffer.from(v3);
  header[text + 2] = (header[text + 2] ?? 0) ^ 0x20;
  const changed = await verifyRpmBytes(header, keyring);
  expect(changed).toMatchObject({ ok: false, reason: 'bad_signature' });
  expect(!changed.ok && changed.detail).toMatch(/signed digest does not match|does not verify/);

  const packet = parseRpm(v3).signature.bin(268)!;
  const value = Buffer.from(v3);
  const last = v3.indexOf(packet) + packet.length - 1;
  value[last] = (value[last] ?? 0) ^ 0x01;
  const result = await verifyRpmBytes(value, keyring);
  expect(result).toMatchObject({ ok: false, reason: 'bad_signature' });
  expect(!result.ok && result.detail).toMatch(/V3 RSA\/SHA256.*: RSA signature does not verify/);
});

test('a V3 signature dated before its key was made → bad_signature', async () => {
  const privateKey = await rsaPrivateKeyFromGpg(gpg, rsa.fingerprint);
  const { header } = parseRpm(v4);
  const created = new Date(Date.now() - 24 * 3600_000);
  const packet = v3RsaSignaturePacket({ data: header.blob, privateKey, keyId: rsa.keyIds[0]!, created });
  const result = await verifyRpmBytes(withSignatureTags(v4, { 268: packet }), keyring);
  expect(result).toMatchObject({ ok: false, reason: 'bad_signature' });
  expect(!result.ok && result.detail).toContain('newer than the signature');
});

test('a V3 signature whose key is not trusted → unknown_key', async () => {
  const empty: Keyring = { keys: [], problems: [], findByKeyId: () => [] };
  expect(await verifyRpmBytes(v3, empty)).toMatchObject({ ok: false, reason: 'unknown_key' });
});

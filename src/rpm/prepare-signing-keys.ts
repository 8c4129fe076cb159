// Prepares a keyring's trusted keys for the signature checks (signing-keys.ts): the key's validity, which OpenPGP.js
// computes by verifying self-signatures — far too slow to repeat for every package — and a node:crypto key object.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { enums, type PublicKey, type Subkey } from 'openpgp';
import type { Keyring, TrustedKey } from '../gpg/keyring.js';
import { isRsa, PublicKeyAlgorithm, type SigningKey, type SigningKeys } from './signing-keys.js';

// Keyed by the keyring: a reloaded one has new key objects, so a revocation or renewal there takes effect.
const prepared = new WeakMap<Keyring, Promise<SigningKeys>>();

/** Every (sub)key of the keyring's trusted keys, prepared once per keyring. */
export function signingKeysOf(keyring: Keyring): Promise<SigningKeys> {
  let keys = prepared.get(keyring);
  if (keys === undefined) prepared.set(keyring, (keys = prepareAll(keyring)));
  return keys;
}

async function prepareAll(keyring: Keyring): Promise<SigningKeys> {
  const keys = await Promise.all(keyring.keys.flatMap((trusted) => trusted.keyIds.map((keyId) => prepare(trusted, keyId).catch((error: unknown) => unpreparable(trusted, keyId, error)))));
  const byKeyId = new Map<string, SigningKey[]>();
  for (const key of keys) byKeyId.set(key.keyId, [...(byKeyId.get(key.keyId) ?? []), key]);
  return { byKeyId, problems: keyring.problems };
}

// OpenPGP.js takes a null date as "ignore time" (its own primary-key expiry code does that); its typings omit it.
// Validity in time is kept apart, in `created` and `expires`, so one preparation serves every `now`.
const ANY_TIME = null as unknown as Date;

async function prepare(trusted: TrustedKey, keyId: string): Promise<SigningKey> {
  const primary = trusted.key;
  const subkey = primary.getSubkeys().find((candidate) => hexKeyId(candidate) === keyId);
  const packet = (subkey ?? primary).keyPacket;
  const publicParams = packet.publicParams as Partial<Record<string, unknown>>;

  let unusable: string | undefined;
  try {
    // Checks revocation, the signing flag and OpenPGP.js's strength rules (e.g. RSA ≥ 2047 bits).
    const usable = await primary.getSigningKey(subkey ? subkey.getKeyID() : primary.getKeyID(), ANY_TIME);
    if (hexKeyId(usable) !== keyId) unusable = `key ${keyId} cannot sign`;
  } catch (error) {
    unusable = `key ${keyId} cannot sign: ${error instanceof Error ? error.message : String(error)}`;
  }

  const expirations = [await primary.getExpirationTime(), subkey ? await subkey.getExpirationTime(ANY_TIME) : Infinity];
  const expires = Math.min(...expirations.map((time) => (time instanceof Date ? time.getTime() / 1000 : Infinity)));
  const { cryptoKey, modulusBytes } = toCryptoKey(packet.algorithm, publicParams);
  return {
    fingerprint: trusted.fingerprint,
    keyId,
    algorithm: packet.algorithm,
    cryptoKey,
    modulusBytes,
    created: Math.floor(packet.getCreationTime().getTime() / 1000),
    expires,
    unusable,
  };
}

/** A (sub)key OpenPGP.js or node:crypto could not make sense of signs nothing; one such key does not stop the others. */
function unpreparable(trusted: TrustedKey, keyId: string, error: unknown): SigningKey {
  const unusable = `key ${keyId} cannot be used: ${error instanceof Error ? error.message : String(error)}`;
  return { fingerprint: trusted.fingerprint, keyId, algorithm: 0, cryptoKey: undefined, modulusBytes: 0, created: 0, expires: Infinity, unusable };
}

function toCryptoKey(
  algorithm: number,
  params: Partial<Record<string, unknown>>,
): { cryptoKey: KeyObject | undefined; modulusBytes: number } {
  const { n, e, oid, Q } = params;
  if (isRsa(algorithm) && n instanceof Uint8Array && e instanceof Uint8Array) {
    const jwk = { kty: 'RSA', n: base64url(n), e: base64url(e) };
    return { cryptoKey: createPublicKey({ key: jwk, format: 'jwk' }), modulusBytes: n.length };
  }
  // Legacy EdDSA stores the point as 0x40 followed by the 32-byte Ed25519 public key.
  if (algorithm === PublicKeyAlgorithm.eddsaLegacy && isEd25519Legacy(oid) && Q instanceof Uint8Array && Q.length === 33 && Q[0] === 0x40) {
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: base64url(Q.subarray(1)) };
    return { cryptoKey: createPublicKey({ key: jwk, format: 'jwk' }), modulusBytes: 0 };
  }
  return { cryptoKey: undefined, modulusBytes: 0 };
}

function isEd25519Legacy(oid: unknown): boolean {
  const name = (oid as { getName?: () => unknown } | undefined)?.getName?.();
  return name === enums.curve.ed25519Legacy;
}

function hexKeyId(key: PublicKey | Subkey): string {
  return key.getKeyID().toHex().toUpperCase();
}

function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

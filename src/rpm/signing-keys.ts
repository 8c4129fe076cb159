// The trusted keys, prepared once for the signature checks: a node:crypto key object and the key's validity, which
// OpenPGP.js computes by verifying self-signatures — far too slow to repeat for every package.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { enums, type PublicKey, type Subkey } from 'openpgp';
import type { TrustedKey } from '../gpg/keyring.js';

export interface SigningKey {
  readonly trusted: TrustedKey;
  /** 16 upper-case hex digits: the primary key's or a subkey's. */
  readonly keyId: string;
  /** OpenPGP public-key algorithm id of this (sub)key. */
  readonly algorithm: number;
  /** For RSA and Ed25519 (legacy EdDSA) keys, which node:crypto verifies. */
  readonly cryptoKey: KeyObject | undefined;
  /** RSA modulus length in bytes: signatures are left-padded to it. */
  readonly modulusBytes: number;
  /** Seconds since the epoch. */
  readonly created: number;
  /** Seconds since the epoch when the key or the subkey expires; Infinity if never. */
  readonly expires: number;
  /** Why the key must not sign at any time (revoked, no signing capability, too weak), as OpenPGP.js judges it. */
  readonly unusable: string | undefined;
}

// Keyed by the key object: a reloaded keyring has new objects, so a revocation or renewal there takes effect.
const prepared = new WeakMap<PublicKey, Map<string, Promise<SigningKey>>>();

/** The (sub)key `keyId` of `trusted`, or undefined when the key has no such key id. */
export function signingKey(trusted: TrustedKey, keyId: string): Promise<SigningKey> | undefined {
  if (!trusted.keyIds.includes(keyId)) return undefined;
  let byId = prepared.get(trusted.key);
  if (!byId) prepared.set(trusted.key, (byId = new Map()));
  let entry = byId.get(keyId);
  if (!entry) byId.set(keyId, (entry = prepare(trusted, keyId)));
  return entry;
}

/** Why `key` must not be trusted at `now`, or undefined when it can be. */
export function keyProblem(key: SigningKey, now: Date): string | undefined {
  if (key.unusable) return key.unusable;
  // Our policy, like the keyring's: an expired key signs nothing, not even what it signed before expiring.
  if (now.getTime() / 1000 >= key.expires) return `key ${key.keyId} expired on ${new Date(key.expires * 1000).toISOString()}`;
  return undefined;
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
    trusted,
    keyId,
    algorithm: packet.algorithm,
    cryptoKey,
    modulusBytes,
    created: Math.floor(packet.getCreationTime().getTime() / 1000),
    expires,
    unusable,
  };
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
  if (algorithm === enums.publicKey.eddsaLegacy && isEd25519Legacy(oid) && Q instanceof Uint8Array && Q.length === 33 && Q[0] === 0x40) {
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: base64url(Q.subarray(1)) };
    return { cryptoKey: createPublicKey({ key: jwk, format: 'jwk' }), modulusBytes: 0 };
  }
  return { cryptoKey: undefined, modulusBytes: 0 };
}

export function isRsa(algorithm: number): boolean {
  return algorithm === enums.publicKey.rsaEncryptSign || algorithm === enums.publicKey.rsaSign;
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

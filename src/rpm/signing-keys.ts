// The trusted keys as the signature checks use them: a node:crypto key object and the key's validity per (sub)key,
// prepared once from the keyring (prepare-signing-keys.ts). Plain data and key objects, which can be posted to a
// staging thread: the checks there then run without OpenPGP.js.
import type { KeyObject } from 'node:crypto';
import type { KeyProblem } from '../gpg/keyring.js';

/** The OpenPGP public-key algorithm ids (RFC 9580 §9.1) that node:crypto verifies here. */
export const PublicKeyAlgorithm = { rsaEncryptSign: 1, rsaSign: 3, eddsaLegacy: 22 } as const;

export interface SigningKey {
  /** Of the primary key, upper-case hex. */
  readonly fingerprint: string;
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

/** Every (sub)key of a keyring's trusted keys, prepared. */
export interface SigningKeys {
  /** By key id (16 upper-case hex digits), in keyring order: two trusted keys may share an id. */
  readonly byKeyId: ReadonlyMap<string, readonly SigningKey[]>;
  /** The keys found but not trusted, to say why a signature by one of them is not accepted. */
  readonly problems: readonly KeyProblem[];
}

/** Why `key` must not be trusted at `now`, or undefined when it can be. */
export function keyProblem(key: SigningKey, now: Date): string | undefined {
  if (key.unusable) return key.unusable;
  // Our policy, like the keyring's: an expired key signs nothing, not even what it signed before expiring.
  if (now.getTime() / 1000 >= key.expires) return `key ${key.keyId} expired on ${new Date(key.expires * 1000).toISOString()}`;
  return undefined;
}

export function isRsa(algorithm: number): boolean {
  return algorithm === PublicKeyAlgorithm.rsaEncryptSign || algorithm === PublicKeyAlgorithm.rsaSign;
}

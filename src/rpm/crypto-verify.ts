// Verification of parsed RSA and Ed25519 signatures with node:crypto (OpenSSL). It does the same checks as
// OpenPGP.js — quick digest check, PKCS#1 v1.5 with DigestInfo, Ed25519 over the digest — several times faster
// (bench/verify-rpm.ts).
import { createHash, publicDecrypt, verify, type Hash } from 'node:crypto';
import type { ParsedSignature } from './signature-packet.js';
import { isRsa, PublicKeyAlgorithm, type SigningKey } from './signing-keys.js';

interface HashInfo {
  readonly name: string;
  /** Display name, as rpm prints it. */
  readonly label: string;
  /** DER DigestInfo prefix for PKCS#1 v1.5 (RFC 8017 §9.2 note 1). */
  readonly digestInfo: Buffer;
}

/** OpenPGP hash ids (RFC 9580 §9.5) node:crypto handles here; others (e.g. SHA3 in V6 packets) are left to OpenPGP.js. */
const HASHES: ReadonlyMap<number, HashInfo> = new Map([
  [2, { name: 'sha1', label: 'SHA1', digestInfo: hex('3021300906052b0e03021a05000414') }],
  [11, { name: 'sha224', label: 'SHA224', digestInfo: hex('302d300d06096086480165030402040500041c') }],
  [8, { name: 'sha256', label: 'SHA256', digestInfo: hex('3031300d060960864801650304020105000420') }],
  [9, { name: 'sha384', label: 'SHA384', digestInfo: hex('3041300d060960864801650304020205000430') }],
  [10, { name: 'sha512', label: 'SHA512', digestInfo: hex('3051300d060960864801650304020305000440') }],
]);

const ED25519_SIZE = 32;

/** Whether node:crypto can check this signature with this key; anything else goes to OpenPGP.js. */
export function canVerifyWithCrypto(signature: ParsedSignature, key: SigningKey): boolean {
  if (!key.cryptoKey || !HASHES.has(signature.hashAlgorithm)) return false;
  if (isRsa(signature.publicKeyAlgorithm)) return isRsa(key.algorithm);
  return signature.publicKeyAlgorithm === PublicKeyAlgorithm.eddsaLegacy && key.algorithm === PublicKeyAlgorithm.eddsaLegacy;
}

/** A running digest of the signed data; the signature's own trailer is added by `verifyDigest`. */
export function startDigest(signature: ParsedSignature): Hash {
  return createHash(hashInfo(signature.hashAlgorithm).name);
}

/** Checks a signature whose data has been fed to `digest`; returns why it fails, or undefined if it verifies. */
export function verifyDigest(signature: ParsedSignature, key: SigningKey, digest: Hash): string | undefined {
  const info = hashInfo(signature.hashAlgorithm);
  const hashed = digest.update(signature.trailer).digest();
  if (!hashed.subarray(0, 2).equals(signature.left16)) return 'signed digest does not match (quick check)';
  const cryptoKey = key.cryptoKey;
  if (!cryptoKey) return 'no node:crypto key';

  if (isRsa(signature.publicKeyAlgorithm)) {
    const value = leftPad(signature.values[0], key.modulusBytes);
    if (!value) return 'RSA signature longer than the modulus';
    let encoded: Buffer;
    try {
      // The default padding is PKCS#1 v1.5 type 1; the options-object form costs ~7 µs more per call.
      encoded = publicDecrypt(cryptoKey, value);
    } catch {
      return 'RSA signature does not verify';
    }
    // Comparing the whole DigestInfo, not parsing it, is the safe way (RFC 8017 §8.2.2).
    return encoded.equals(Buffer.concat([info.digestInfo, hashed])) ? undefined : 'RSA signature does not verify';
  }

  // Legacy EdDSA signs the digest, which must be at least 256 bits (RFC 9580 §5.2.3.3), as OpenPGP.js enforces.
  if (hashed.length < ED25519_SIZE) return `hash ${info.label} too weak for EdDSA`;
  const r = leftPad(signature.values[0], ED25519_SIZE);
  const s = leftPad(signature.values[1], ED25519_SIZE);
  if (!r || !s) return 'EdDSA signature values too long';
  return verify(null, hashed, cryptoKey, Buffer.concat([r, s])) ? undefined : 'EdDSA signature does not verify';
}

const OTHER_HASH_LABELS: Readonly<Record<number, string>> = { 1: 'MD5', 3: 'RIPEMD160', 12: 'SHA3-256', 14: 'SHA3-512' };

export function hashLabel(hashAlgorithm: number): string {
  return HASHES.get(hashAlgorithm)?.label ?? OTHER_HASH_LABELS[hashAlgorithm] ?? `hash ${hashAlgorithm}`;
}

function hashInfo(hashAlgorithm: number): HashInfo {
  const info = HASHES.get(hashAlgorithm);
  if (!info) throw new Error(`hash algorithm ${hashAlgorithm} is not handled by node:crypto`);
  return info;
}

/** MPIs drop leading zeros; OpenSSL wants fixed-size values. */
function leftPad(value: Buffer | undefined, size: number): Buffer | undefined {
  if (!value || value.length > size) return undefined;
  if (value.length === size) return value;
  const padded = Buffer.alloc(size);
  value.copy(padded, size - value.length);
  return padded;
}

function hex(digits: string): Buffer {
  return Buffer.from(digits, 'hex');
}

// Package signature policy (SPEC §8, reposync-anchors §1.3 and §5): a package is accepted only when a signature from
// a trusted key covers its header and the payload is covered too — by the payload digest inside that signed header
// (tag 5092) or, for packages older than rpm 4.14, by a header+payload signature (1002/1005).
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Keyring } from '../gpg/keyring.js';
import { canVerifyWithCrypto, hashLabel, startDigest, verifyDigest } from './crypto-verify.js';
import { RpmFormatError, type ReadAt, type RpmHeader } from './header.js';
import { packageFromBytes, packageFromReader, withPackageFile, type RpmPackage } from './package-bytes.js';
import { BINARY_SIGNATURE, parseSignaturePacket, signatureTypeProblem, type ParsedSignature } from './signature-packet.js';
import { keyProblem, type SigningKey, type SigningKeys } from './signing-keys.js';

export type RejectReason =
  | 'unsigned'
  | 'unknown_key'
  | 'bad_signature'
  | 'payload_digest_mismatch'
  | 'corrupt'
  | 'unsupported_algorithm';

export interface VerifyOk {
  ok: true;
  /** Primary key fingerprint of the trusted key, upper-case hex. */
  fingerprint: string;
  /** The (sub)key that made the signature, 16 upper-case hex digits. */
  keyId: string;
  /** Signature-header tag of the signature that verified. */
  tag: number;
  /** Whether tag 5092 was compared with the payload (false only when a header+payload signature covered it). */
  payloadDigestChecked: boolean;
}

export interface VerifyFail {
  ok: false;
  reason: RejectReason;
  detail: string;
}

export type VerifyResult = VerifyOk | VerifyFail;

/**
 * What signatures are checked against, besides a Keyring: its keys prepared for node:crypto, and the keyring itself
 * for the few signatures only OpenPGP.js checks. A staging thread has the prepared keys and loads OpenPGP.js and
 * the keyring only if a package needs them.
 */
export interface VerifyKeys {
  readonly signing: SigningKeys;
  keyring(): Promise<Keyring>;
}

export interface VerifyOptions {
  /** The time for key expiry and signature dates; the live clock when absent. */
  now?: Date;
  /**
   * 'auto' (default) checks RSA and Ed25519 V3/V4 signatures with node:crypto and anything else with OpenPGP.js;
   * 'openpgp' uses OpenPGP.js alone, which cannot read V3 packets. It is the reference the fast path is tested against.
   */
  engine?: 'auto' | 'openpgp';
  /** Accept SHA-1 signatures (RHEL 9 does not; MD5 and RIPEMD-160 are never accepted). */
  allowSha1?: boolean;
}

export const SignatureTag = {
  DSA: 267,
  RSA: 268,
  OPENPGP: 278,
  PGP: 1002,
  GPG: 1005,
} as const;

const SIGTAG_SIZE = 1000;
const SIGTAG_SHA256 = 273;
const SIGTAG_LONGSIZE = 270;
const SIGTAG_RESERVED = 999;
const SIGTAG_SHA3_256 = 279;
const RPMTAG_PAYLOADDIGEST = 5092;
const RPMTAG_PAYLOADDIGESTALGO = 5093;
const MAX_OPENPGP_SIGNATURES = 16;

// rpm's payload digest algorithm ids are the OpenPGP hash ids.
const PAYLOAD_HASHES: ReadonlyMap<number, string> = new Map([
  [2, 'sha1'],
  [8, 'sha256'],
  [9, 'sha384'],
  [10, 'sha512'],
  [11, 'sha224'],
]);

const SHA1 = 2;

// OpenPGP public-key algorithms that can sign (RSA, DSA, ECDSA, EdDSA, Ed25519, Ed448); OpenPGP.js refuses to even
// read a signature packet naming another one, before looking for its key.
const SIGNING_ALGORITHMS: ReadonlySet<number> = new Set([1, 2, 3, 17, 19, 22, 27, 28]);

/** Verifies the package at `path`. Throws only when the file cannot be opened or read. */
export async function verifyRpm(path: string, keys: Keyring | VerifyKeys, options: VerifyOptions = {}): Promise<VerifyResult> {
  const prepared = await verifyKeysOf(keys);
  return withPackageFile(path, (pkg) => verifyPackage(async () => pkg, prepared, options)).catch((error: unknown) => {
    if (error instanceof RpmFormatError) return fail('corrupt', `${error.reason}: ${error.message}`);
    throw error;
  });
}

/** Verifies a package the caller already has open; reads it with positional reads, so the file position is kept. */
export async function verifyRpmFile(file: FileHandle, keys: Keyring | VerifyKeys, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { size } = await file.stat();
  const readAt: ReadAt = async (buffer, offset, length, position) => (await file.read(buffer, offset, length, position)).bytesRead;
  return verifyPackage(() => packageFromReader(readAt, size), await verifyKeysOf(keys), options);
}

/** Verifies a package held in memory. */
export async function verifyRpmBytes(bytes: Uint8Array, keys: Keyring | VerifyKeys, options: VerifyOptions = {}): Promise<VerifyResult> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return verifyPackage(async () => packageFromBytes(buffer), await verifyKeysOf(keys), options);
}

const keyringKeys = new WeakMap<Keyring, Promise<VerifyKeys>>();

/** A keyring's keys prepared once (and OpenPGP.js loaded only where a Keyring is passed in). */
function verifyKeysOf(keys: Keyring | VerifyKeys): Promise<VerifyKeys> {
  if ('signing' in keys) return Promise.resolve(keys);
  let prepared = keyringKeys.get(keys);
  if (prepared === undefined) {
    prepared = import('./prepare-signing-keys.js').then(async ({ signingKeysOf }) => ({ signing: await signingKeysOf(keys), keyring: async () => keys }));
    keyringKeys.set(keys, prepared);
  }
  return prepared;
}

interface Candidate {
  readonly tag: number;
  readonly packet: Buffer;
  /** rpm v3 signatures (1002/1005) cover header and payload; the others the header only. */
  readonly coversPayload: boolean;
}

interface Verified {
  readonly ok: true;
  readonly tag: number;
  /** Of the trusted key. */
  readonly fingerprint: string;
  readonly keyId: string;
}

type Outcome = Verified | { readonly ok: false; readonly rank: number; readonly reason: RejectReason; readonly detail: string };

// When no signature verifies, the most telling failure is reported: a trusted key's signature that fails beats a
// weak algorithm by a trusted key, which beats an unknown key, which beats a packet nobody could read.
const RANK = { unreadable: 1, unknownKey: 2, trustedUnsupported: 3, trustedBad: 4 } as const;

type Plan =
  | { readonly kind: 'done'; readonly outcome: Outcome }
  | { readonly kind: 'crypto'; readonly candidate: Candidate; readonly signature: ParsedSignature; readonly key: SigningKey }
  | { readonly kind: 'openpgp'; readonly candidate: Candidate };

interface Context {
  readonly keys: VerifyKeys;
  readonly options: VerifyOptions;
  readonly now: Date;
}

/**
 * The checks `rpm -K --nosignature` makes, for packages that are not checked against keys (gpgcheck off) and have
 * no checksum from metadata either: the header's SHA-256 (signature tag 273), the payload digest (tag 5092) and
 * the sizes the signature header gives. A truncated or damaged package fails with 'corrupt' or
 * 'payload_digest_mismatch'; one without any digest passes on its sizes alone, as with rpm.
 */
export async function checkRpmDigests(path: string): Promise<VerifyFail | { ok: true }> {
  try {
    return await withPackageFile(path, async (pkg) => {
      const { signature, header } = pkg.layout;
      const headerSha256 = signature.string(SIGTAG_SHA256)?.toLowerCase();
      if (headerSha256 !== undefined && createHash('sha256').update(header.blob).digest('hex') !== headerSha256) {
        return fail('corrupt', `the header's SHA256 does not match signature tag 273 (${headerSha256})`);
      }
      const digest = payloadDigest(header);
      if (digest === undefined || 'unsupported' in digest) return sizeProblem(pkg) ?? { ok: true };
      await pkg.hashFrom(pkg.layout.headerEnd, [digest.hash]);
      return digestProblem(pkg, digest) ?? { ok: true };
    });
  } catch (error) {
    if (error instanceof RpmFormatError) return fail('corrupt', `${error.reason}: ${error.message}`);
    throw error;
  }
}

async function verifyPackage(
  load: () => Promise<RpmPackage>,
  keys: VerifyKeys,
  options: VerifyOptions,
): Promise<VerifyResult> {
  try {
    return await check(await load(), { keys, options, now: options.now ?? new Date() });
  } catch (error) {
    if (error instanceof RpmFormatError) return fail('corrupt', `${error.reason}: ${error.message}`);
    throw error;
  }
}

async function check(pkg: RpmPackage, context: Context): Promise<VerifyResult> {
  const { signature: signatureHeader, header } = pkg.layout;
  const candidates = signatureCandidates(signatureHeader);
  if (candidates.length === 0) {
    return fail('unsigned', 'no OpenPGP signature in the signature header (tags 267, 268, 278, 1002, 1005)');
  }
  const digest = payloadDigest(header);
  const digestHash = digest && 'hash' in digest ? digest.hash : undefined;
  // Only once a signature verified: before that, the signature's failure is the better reason.
  const verdict = (verified: Verified): VerifyResult => {
    if (!digest) return success(verified, false);
    return 'unsupported' in digest ? fail('unsupported_algorithm', digest.unsupported) : digestVerdict(pkg, verified, digest);
  };

  const failures: Outcome[] = [];
  const headerOnly = await firstVerified(pkg, candidates.filter((candidate) => !candidate.coversPayload), undefined, context, failures);
  if (headerOnly && digest) {
    if (digestHash) await pkg.hashFrom(pkg.layout.headerEnd, [digestHash]);
    return verdict(headerOnly);
  }

  const covering = candidates.filter((candidate) => candidate.coversPayload);
  const both = covering.length > 0 ? await firstVerified(pkg, covering, digestHash, context, failures) : undefined;
  if (both) return verdict(both);
  if (headerOnly && covering.length === 0) {
    return fail(
      'unsigned',
      `tag ${headerOnly.tag} signs the header, but nothing signs the payload: no payload digest (tag 5092) in the ` +
        'header and no verified header+payload signature (tag 1002/1005)',
    );
  }
  return worst(failures);
}

/**
 * The first candidate that verifies. For header+payload candidates the payload is read once for all of them, and
 * `payloadHash` (the tag 5092 digest) is fed in the same pass.
 */
async function firstVerified(
  pkg: RpmPackage,
  candidates: readonly Candidate[],
  payloadHash: Hash | undefined,
  context: Context,
  failures: Outcome[],
): Promise<Verified | undefined> {
  const { headerStart, headerEnd } = pkg.layout;
  const plans = candidates.map((candidate) => plan(candidate, context));
  const coversPayload = candidates.some((candidate) => candidate.coversPayload);

  const digests = new Map<Plan, Hash>();
  for (const planned of plans) {
    if (planned.kind !== 'crypto') continue;
    const hash = startDigest(planned.signature).update(pkg.layout.header.blob);
    digests.set(planned, hash);
  }
  if (coversPayload && (digests.size > 0 || payloadHash)) {
    await pkg.hashFrom(headerEnd, [...digests.values(), ...(payloadHash ? [payloadHash] : [])]);
  }

  for (const planned of plans) {
    let outcome: Outcome;
    if (planned.kind === 'done') outcome = planned.outcome;
    else if (planned.kind === 'crypto') outcome = cryptoOutcome(planned, digests.get(planned), context);
    else {
      const data = planned.candidate.coversPayload ? await pkg.bytesFrom(headerStart) : pkg.layout.header.blob;
      outcome = await openpgpOutcome(planned.candidate, data, context);
    }
    if (outcome.ok) return outcome;
    failures.push(outcome);
  }
  return undefined;
}

/** What can be decided before hashing: packet format and type, issuer, and which engine verifies it. */
function plan(candidate: Candidate, context: Context): Plan {
  if (context.options.engine === 'openpgp') return { kind: 'openpgp', candidate };
  const parsed = parseSignaturePacket(candidate.packet);
  if (parsed.kind === 'malformed') return done(candidate, RANK.unreadable, 'bad_signature', parsed.detail);
  if (parsed.kind === 'other_version') return { kind: 'openpgp', candidate };

  const { signature } = parsed;
  const what = describe(signature, signature.issuerKeyId ?? '(none)');
  if (!SIGNING_ALGORITHMS.has(signature.publicKeyAlgorithm)) {
    return done(candidate, RANK.unreadable, 'unsupported_algorithm', `${what}: unknown signature algorithm`);
  }
  if (signature.signatureType !== BINARY_SIGNATURE) {
    return done(candidate, RANK.unreadable, 'bad_signature', `${what}: ${signatureTypeProblem(signature.signatureType)}`);
  }
  const issuer = signature.issuerKeyId;
  // Two trusted keys sharing a 64-bit key ID would take a deliberate collision; the first one is checked.
  const [key] = issuer ? (context.keys.signing.byKeyId.get(issuer) ?? []) : [];
  if (!key) return done(candidate, RANK.unknownKey, 'unknown_key', `${what}: no trusted key has this key ID${untrustedNote(issuer, context.keys.signing)}`);
  if (canVerifyWithCrypto(signature, key) && signature.unknownCritical.length === 0) {
    return { kind: 'crypto', candidate, signature, key };
  }
  if (signature.version === 3) {
    return done(candidate, RANK.trustedUnsupported, 'unsupported_algorithm', `${what}: V3 packets are verified for RSA only`);
  }
  return { kind: 'openpgp', candidate };
}

function cryptoOutcome(planned: Extract<Plan, { kind: 'crypto' }>, digest: Hash | undefined, context: Context): Outcome {
  const { candidate, signature, key } = planned;
  const prefix = `tag ${candidate.tag}: ${describe(signature, key.keyId)}`;
  const failure = digest ? verifyDigest(signature, key, digest) : 'signed data was not hashed';
  if (failure) return { ok: false, rank: RANK.trustedBad, reason: 'bad_signature', detail: `${prefix}: ${failure}` };

  // The checks OpenPGP.js makes after the cryptography, in its order, so that both paths give the same reason.
  const nowSeconds = Math.floor(context.now.getTime() / 1000);
  let problem: string | undefined;
  if (signature.created > nowSeconds) problem = 'signature creation time is in the future';
  else if (signature.expiresAfter && signature.created + signature.expiresAfter <= nowSeconds) problem = 'signature is expired';
  else if (signature.hashAlgorithm === SHA1 && !context.options.allowSha1) {
    const detail = `${prefix}: SHA1 signatures are rejected as weak`;
    return { ok: false, rank: RANK.trustedUnsupported, reason: 'unsupported_algorithm', detail };
  } else if (key.created > signature.created) problem = `key ${key.keyId} is newer than the signature`;
  // Our policy on top, like the keyring's: a revoked or expired key signs nothing, not even what it signed before.
  else problem = keyProblem(key, context.now);
  if (problem) return { ok: false, rank: RANK.trustedBad, reason: 'bad_signature', detail: `${prefix}: ${problem}` };
  return { ok: true, tag: candidate.tag, fingerprint: key.fingerprint, keyId: key.keyId };
}

async function openpgpOutcome(candidate: Candidate, data: Uint8Array, context: Context): Promise<Outcome> {
  // Loaded with the first signature that needs it: RSA and Ed25519 ones (nearly all) never do.
  const { verifyWithOpenpgp } = await import('./openpgp-verify.js');
  const result = await verifyWithOpenpgp(candidate.packet, data, await context.keys.keyring(), {
    now: context.now,
    allowSha1: context.options.allowSha1 ?? false,
  });
  const prefix = `tag ${candidate.tag}`;
  if (result.ok) {
    const { fingerprint } = result.key;
    const key = context.keys.signing.byKeyId.get(result.keyId)?.find((candidate) => candidate.fingerprint === fingerprint);
    const problem = key ? keyProblem(key, context.now) : `key ${result.keyId} not in the keyring`;
    if (!problem) return { ok: true, tag: candidate.tag, fingerprint, keyId: result.keyId };
    return { ok: false, rank: RANK.trustedBad, reason: 'bad_signature', detail: `${prefix}: ${problem}` };
  }
  const detail = `${prefix}: ${result.detail}`;
  if (result.kind === 'unknown_key') return { ok: false, rank: RANK.unknownKey, reason: 'unknown_key', detail };
  if (result.kind === 'unsupported') {
    const rank = result.key ? RANK.trustedUnsupported : RANK.unreadable;
    return { ok: false, rank, reason: 'unsupported_algorithm', detail };
  }
  return { ok: false, rank: result.key ? RANK.trustedBad : RANK.unreadable, reason: 'bad_signature', detail };
}

/** Why a key in GpgDir with this (primary) key ID was not trusted, when one was found there; '' otherwise. */
function untrustedNote(keyId: string | undefined, keys: SigningKeys): string {
  const problem = keyId === undefined ? undefined : keys.problems.find((candidate) => candidate.fingerprint?.endsWith(keyId));
  return problem === undefined ? '' : ` (the key ${problem.fingerprint} in ${problem.file} is not trusted: ${problem.detail})`;
}

/** The signatures rpm itself would consider (lib/rpmvs.cc). */
function signatureCandidates(signatureHeader: RpmHeader): Candidate[] {
  // With an rpm 6 OpenPGP tag, rpm ignores the legacy signature tags.
  const count = signatureHeader.count(SignatureTag.OPENPGP) ?? 0;
  // A real package carries one to three; millions of empty strings would only cost memory and time.
  if (count > MAX_OPENPGP_SIGNATURES) {
    throw new RpmFormatError('bad_tag_data', `tag 278 holds ${count} signatures, more than ${MAX_OPENPGP_SIGNATURES}`);
  }
  const openpgp = signatureHeader.stringArray(SignatureTag.OPENPGP);
  if (openpgp) {
    return openpgp.map((base64) => ({ tag: SignatureTag.OPENPGP, packet: Buffer.from(base64, 'base64'), coversPayload: false }));
  }
  // v6 packages (RESERVED and SHA3-256 present) skip the legacy tags ≥ 1000.
  const isV6 = signatureHeader.has(SIGTAG_RESERVED) && signatureHeader.has(SIGTAG_SHA3_256);
  const tags: [number, boolean][] = [
    [SignatureTag.RSA, false],
    [SignatureTag.DSA, false],
    ...(isV6 ? [] : ([[SignatureTag.PGP, true], [SignatureTag.GPG, true]] as [number, boolean][])),
  ];
  return tags.flatMap(([tag, coversPayload]) => {
    const packet = signatureHeader.bin(tag);
    return packet ? [{ tag, packet, coversPayload }] : [];
  });
}

type PayloadDigest = { hash: Hash; expected: string; label: string } | { unsupported: string };

function payloadDigest(header: RpmHeader): PayloadDigest | undefined {
  const expected = header.string(RPMTAG_PAYLOADDIGEST);
  if (expected === undefined) return undefined;
  const algorithm = header.number(RPMTAG_PAYLOADDIGESTALGO);
  if (algorithm === undefined) throw new RpmFormatError('bad_tag_data', 'payload digest (tag 5092) without its algorithm (tag 5093)');
  const name = PAYLOAD_HASHES.get(algorithm);
  if (!name) return { unsupported: `payload digest algorithm ${algorithm} (tag 5093) is not supported` };
  return { hash: createHash(name), expected: expected.toLowerCase(), label: name.toUpperCase() };
}

function digestVerdict(
  pkg: RpmPackage,
  verified: Verified,
  digest: Extract<PayloadDigest, { hash: Hash }>,
): VerifyResult {
  return digestProblem(pkg, digest) ?? success(verified, true);
}

/** Why the payload does not match tag 5092 (the hash fed with it), or undefined when it does. */
function digestProblem(pkg: RpmPackage, digest: Extract<PayloadDigest, { hash: Hash }>): VerifyFail | undefined {
  const actual = digest.hash.digest('hex');
  if (actual === digest.expected) return undefined;
  return sizeProblem(pkg) ?? fail('payload_digest_mismatch', `payload ${digest.label} is ${actual}, the header (tag 5092) says ${digest.expected}`);
}

/** The size tags are unsigned, but they tell a truncated download from a tampered payload. */
function sizeProblem(pkg: RpmPackage): VerifyFail | undefined {
  const { headerStart, fileSize } = pkg.layout;
  const claimed = pkg.layout.signature.number(SIGTAG_LONGSIZE) ?? pkg.layout.signature.number(SIGTAG_SIZE);
  if (claimed === undefined || claimed === fileSize - headerStart) return undefined;
  return fail('corrupt', `truncated or extended: header+payload is ${fileSize - headerStart} bytes, the signature header says ${claimed}`);
}

function success(outcome: Verified, payloadDigestChecked: boolean): VerifyOk {
  return { ok: true, fingerprint: outcome.fingerprint, keyId: outcome.keyId, tag: outcome.tag, payloadDigestChecked };
}

function worst(failures: readonly Outcome[]): VerifyFail {
  let chosen: Extract<Outcome, { ok: false }> | undefined;
  for (const outcome of failures) {
    if (!outcome.ok && (!chosen || outcome.rank > chosen.rank)) chosen = outcome;
  }
  const details = failures.flatMap((outcome) => (outcome.ok ? [] : [outcome.detail]));
  return fail(chosen?.reason ?? 'bad_signature', details.join('; ') || 'no signature verified');
}

function done(candidate: Candidate, rank: number, reason: RejectReason, detail: string): Plan {
  return { kind: 'done', outcome: { ok: false, rank, reason, detail: `tag ${candidate.tag}: ${detail}` } };
}

function describe(signature: ParsedSignature, keyId: string): string {
  const names: Readonly<Record<number, string>> = { 1: 'RSA', 3: 'RSA', 17: 'DSA', 19: 'ECDSA', 22: 'EdDSA', 27: 'Ed25519' };
  const algorithm = names[signature.publicKeyAlgorithm] ?? `algorithm ${signature.publicKeyAlgorithm}`;
  return `V${signature.version} ${algorithm}/${hashLabel(signature.hashAlgorithm)}, key ID ${keyId}`;
}

function fail(reason: RejectReason, detail: string): VerifyFail {
  return { ok: false, reason, detail };
}

// Verification with OpenPGP.js: the reference for the node:crypto path, and the path for everything that one does
// not handle (ECDSA, DSA, Ed448, V6 packets, SHA-3). It cannot read V3 packets.
import { createMessage, enums, readSignature, verify, type PartialConfig } from 'openpgp';
import type { Keyring, TrustedKey } from '../gpg/keyring.js';
import { BINARY_SIGNATURE, signatureTypeProblem } from './signature-packet.js';

export type OpenpgpResult =
  | { readonly ok: true; readonly key: TrustedKey; readonly keyId: string }
  | { readonly ok: false; readonly kind: 'bad' | 'unknown_key' | 'unsupported'; readonly detail: string; readonly key?: TrustedKey };

// OpenPGP.js reports unsupported material only in its messages.
const UNSUPPORTED = /unsupported|Unknown signature algorithm|Insecure|too weak|is disabled|Unknown (?:public key|hash) algorithm/i;

/** Verifies one binary signature packet over `data` against the trusted keys that could have issued it. */
export async function verifyWithOpenpgp(
  packet: Uint8Array,
  data: Uint8Array,
  keyring: Keyring,
  options: { now: Date; allowSha1: boolean },
): Promise<OpenpgpResult> {
  const config: PartialConfig = {
    // The default would keep an unreadable (e.g. V3) packet and then say "Message is not signed".
    ignoreUnsupportedPackets: false,
    rejectMessageHashAlgorithms: new Set(
      options.allowSha1 ? [enums.hash.md5, enums.hash.ripemd] : [enums.hash.md5, enums.hash.ripemd, enums.hash.sha1],
    ),
  };
  let signature;
  try {
    signature = await readSignature({ binarySignature: packet, config });
  } catch (error) {
    return failure(error);
  }
  const signatureType = signature.packets[0]?.signatureType;
  if (signatureType !== undefined && signatureType !== null && signatureType !== BINARY_SIGNATURE) {
    return { ok: false, kind: 'bad', detail: signatureTypeProblem(signatureType) };
  }
  const keyIds = signature.getSigningKeyIDs().map((id) => id.toHex().toUpperCase());
  const candidates = keyIds.flatMap((keyId) => keyring.findByKeyId(keyId));
  const [first] = candidates;
  if (!first) return { ok: false, kind: 'unknown_key', detail: `no trusted key with key id ${keyIds.join(', ') || '(none)'}` };

  try {
    const { signatures } = await verify({
      message: await createMessage({ binary: data }),
      signature,
      verificationKeys: candidates.map((candidate) => candidate.key),
      date: options.now,
      expectSigned: true,
      format: 'binary',
      config,
    });
    const [result] = signatures;
    if (!result) return { ok: false, kind: 'bad', detail: 'no signature verified', key: first };
    const keyId = result.keyID.toHex().toUpperCase();
    const key = candidates.find((candidate) => candidate.keyIds.includes(keyId)) ?? first;
    return { ok: true, key, keyId };
  } catch (error) {
    return { ...failure(error), key: first };
  }
}

function failure(error: unknown): { ok: false; kind: 'bad' | 'unsupported'; detail: string } {
  const detail = `OpenPGP.js: ${error instanceof Error ? error.message : String(error)}`;
  // It calls garbage an unsupported version too; only real OpenPGP versions (3, 5) are unsupported material.
  const version = /Version (\w+) of the signature packet is unsupported/.exec(detail)?.[1];
  const unsupported = version === undefined ? UNSUPPORTED.test(detail) : version === '3' || version === '5';
  return { ok: false, kind: unsupported ? 'unsupported' : 'bad', detail };
}

// OpenPGP signature packets as rpmsign stores them in the signature header (RFC 4880 §4.2, §5.2). Parsing them here
// lets the common cases (RSA and Ed25519, V3 and V4) be verified with node:crypto, which is much faster than
// OpenPGP.js and, unlike it, accepts the V3 packets that older distributions still ship.
import { MalformedPacket, readExact, readValues } from './packet-fields.js';
import { parseV3Body } from './v3-signature.js';

/** A V3 or V4 signature, reduced to what verification needs. */
export interface ParsedSignature {
  readonly version: 3 | 4;
  readonly signatureType: number;
  /** OpenPGP public-key algorithm id: 1/3 RSA, 17 DSA, 19 ECDSA, 22 EdDSA (legacy), 27 Ed25519, … */
  readonly publicKeyAlgorithm: number;
  /** OpenPGP hash algorithm id: 1 MD5, 2 SHA-1, 8 SHA-256, 9 SHA-384, 10 SHA-512, 11 SHA-224, … */
  readonly hashAlgorithm: number;
  /** Seconds since the epoch. */
  readonly created: number;
  /** Seconds after `created`, when the signature says it expires. */
  readonly expiresAfter: number | undefined;
  /** 16 upper-case hex digits, when the packet names its issuer. */
  readonly issuerKeyId: string | undefined;
  /** Bytes hashed after the signed data. */
  readonly trailer: Buffer;
  /** First two bytes of the digest, a quick reject that rpm and OpenPGP.js both apply. */
  readonly left16: Buffer;
  /** The algorithm-specific values (MPIs), leading zeros stripped as on the wire. */
  readonly values: readonly Buffer[];
  /** Critical hashed subpackets this parser does not interpret; a verifier must not ignore them. */
  readonly unknownCritical: readonly number[];
}

export type PacketParse =
  | { readonly kind: 'parsed'; readonly signature: ParsedSignature }
  /** A well-framed packet of another version (5, 6): left to OpenPGP.js. */
  | { readonly kind: 'other_version'; readonly version: number }
  | { readonly kind: 'malformed'; readonly detail: string };

const SIGNATURE_TAG = 2;

/** Signature type 0x00, a signature of a binary document: the only kind rpm makes. */
export const BINARY_SIGNATURE = 0x00;

/** Why a signature of another type is rejected: a text signature (0x01) covers line-ending-normalised data, so a
 * header whose line endings were changed would still verify. */
export function signatureTypeProblem(signatureType: number): string {
  return `signature type 0x${signatureType.toString(16).padStart(2, '0')}, only binary (0x00) signatures are accepted`;
}

// Subpacket types (RFC 4880 §5.2.3.1, RFC 9580 §5.2.3.7) the verifier interprets.
const SUBPACKET = { CREATED: 2, EXPIRES: 3, ISSUER: 16, ISSUER_FINGERPRINT: 33 } as const;

export function parseSignaturePacket(packet: Uint8Array): PacketParse {
  try {
    const bytes = Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength);
    const body = packetBody(bytes);
    const version = body[0];
    if (version === 3) return { kind: 'parsed', signature: parseV3Body(body) };
    if (version === 4) return { kind: 'parsed', signature: parseV4Body(body) };
    if (version === 5 || version === 6) return { kind: 'other_version', version };
    throw new MalformedPacket(`no OpenPGP signature version ${version}`);
  } catch (error) {
    if (error instanceof MalformedPacket || error instanceof RangeError) {
      return { kind: 'malformed', detail: `malformed signature packet: ${error.message}` };
    }
    throw error;
  }
}

/** The body of the single signature packet that must make up `bytes`, old or new framing. */
function packetBody(bytes: Buffer): Buffer {
  const first = bytes.readUInt8(0);
  if ((first & 0x80) === 0) throw new MalformedPacket('not an OpenPGP packet');
  let tag: number;
  let start: number;
  let length: number;
  if ((first & 0x40) === 0) {
    tag = (first >> 2) & 0x0f;
    const lengthType = first & 0x03;
    if (lengthType === 3) throw new MalformedPacket('indeterminate length');
    const size = 1 << lengthType;
    start = 1 + size;
    length = bytes.readUIntBE(1, size);
  } else {
    tag = first & 0x3f;
    const octet = bytes.readUInt8(1);
    if (octet < 192) [start, length] = [2, octet];
    else if (octet < 224) [start, length] = [3, ((octet - 192) << 8) + bytes.readUInt8(2) + 192];
    else if (octet === 255) [start, length] = [6, bytes.readUInt32BE(2)];
    else throw new MalformedPacket('partial body length');
  }
  if (tag !== SIGNATURE_TAG) throw new MalformedPacket(`packet tag ${tag}, expected ${SIGNATURE_TAG}`);
  // rpm accepts exactly one packet: trailing bytes would be unsigned data smuggled next to the signature.
  if (start + length !== bytes.length) {
    throw new MalformedPacket(`packet length ${length} does not match the ${bytes.length - start} bytes given`);
  }
  return bytes.subarray(start);
}

function parseV4Body(body: Buffer): ParsedSignature {
  const hashedLength = body.readUInt16BE(4);
  const hashedEnd = 6 + hashedLength;
  const hashed = readSubpackets(body.subarray(6, hashedEnd), true);
  const unhashedLength = body.readUInt16BE(hashedEnd);
  const unhashedEnd = hashedEnd + 2 + unhashedLength;
  const unhashed = readSubpackets(body.subarray(hashedEnd + 2, unhashedEnd), false, hashed.issuer);
  const publicKeyAlgorithm = body.readUInt8(2);

  const created = hashed.created;
  if (created === undefined) throw new MalformedPacket('no signature creation time');
  // RFC 4880 §5.2.4: the hashed part of the packet, then 0x04 0xff and its length.
  const trailer = Buffer.alloc(hashedEnd + 6);
  body.copy(trailer, 0, 0, hashedEnd);
  trailer.writeUInt8(0x04, hashedEnd);
  trailer.writeUInt8(0xff, hashedEnd + 1);
  trailer.writeUInt32BE(hashedEnd, hashedEnd + 2);

  return {
    version: 4,
    signatureType: body.readUInt8(1),
    publicKeyAlgorithm,
    hashAlgorithm: body.readUInt8(3),
    created,
    expiresAfter: hashed.expiresAfter,
    // The issuer is a hint, usually in the unhashed area: a wrong one can only make verification fail.
    issuerKeyId: unhashed.issuer,
    trailer,
    left16: readExact(body, unhashedEnd, 2),
    values: readValues(body, unhashedEnd + 2, publicKeyAlgorithm),
    unknownCritical: hashed.unknownCritical,
  };
}

interface Subpackets {
  created?: number;
  expiresAfter?: number;
  issuer?: string;
  unknownCritical: number[];
}

function readSubpackets(area: Buffer, isHashed: boolean, issuer?: string): Subpackets {
  const found: Subpackets = { issuer, unknownCritical: [] };
  let at = 0;
  while (at < area.length) {
    const octet = area.readUInt8(at);
    let length: number;
    if (octet < 192) [length, at] = [octet, at + 1];
    else if (octet < 255) [length, at] = [((octet - 192) << 8) + area.readUInt8(at + 1) + 192, at + 2];
    else [length, at] = [area.readUInt32BE(at + 1), at + 5];
    if (length < 1) throw new MalformedPacket('empty subpacket');
    const data = readExact(area, at + 1, length - 1);
    const type = area.readUInt8(at) & 0x7f;
    const critical = (area.readUInt8(at) & 0x80) !== 0;
    at += length;

    // Only hashed values are trusted for times; either area may name the issuer.
    if (isHashed && type === SUBPACKET.CREATED) found.created = data.readUInt32BE(0);
    else if (isHashed && type === SUBPACKET.EXPIRES) found.expiresAfter = data.readUInt32BE(0);
    // Like OpenPGP.js, the last issuer or issuer fingerprint wins, hashed area first, so both paths look up the same
    // key. A V4 fingerprint (20 bytes after a version byte) ends with the key ID; later versions start with it.
    else if (type === SUBPACKET.ISSUER) found.issuer = hexId(readExact(data, 0, 8));
    else if (type === SUBPACKET.ISSUER_FINGERPRINT) {
      found.issuer = hexId(data.readUInt8(0) === 4 ? readExact(data, 13, 8) : readExact(data, 1, 8));
    } else if (isHashed && critical) found.unknownCritical.push(type);
  }
  return found;
}

function hexId(bytes: Buffer): string {
  return bytes.toString('hex').toUpperCase();
}

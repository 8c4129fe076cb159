// OpenPGP V3 signature packets (RFC 4880 §5.2.2). OpenPGP.js dropped them (openpgpjs#807) and reports a misleading
// "Message is not signed"; yet Fedora ≤ 30, CentOS 7, EL8, EPEL, Copr and OBS signed with them for years
// (reposync-anchors §1.4). They are verified with node:crypto like the V4 packets, only the hashed trailer differs.
import { MalformedPacket, readExact, readValues } from './packet-fields.js';
import type { ParsedSignature } from './signature-packet.js';

/** The fixed length of the hashed material: signature type and creation time. */
const V3_HASHED_LENGTH = 5;

/** Parses a V3 body: ver, hashed-len 5, sigtype, ctime(4), keyid(8), pkalgo, hashalgo, left16(2), MPIs. */
export function parseV3Body(body: Buffer): ParsedSignature {
  const hashedLength = body.readUInt8(1);
  if (hashedLength !== V3_HASHED_LENGTH) throw new MalformedPacket(`V3 hashed length ${hashedLength}, expected 5`);
  const publicKeyAlgorithm = body.readUInt8(15);
  return {
    version: 3,
    signatureType: body.readUInt8(2),
    publicKeyAlgorithm,
    hashAlgorithm: body.readUInt8(16),
    created: body.readUInt32BE(3),
    expiresAfter: undefined,
    issuerKeyId: readExact(body, 7, 8).toString('hex').toUpperCase(),
    // A V3 signature hashes the data, then its signature type and creation time: no version, no length trailer.
    trailer: Buffer.from(readExact(body, 2, V3_HASHED_LENGTH)),
    left16: readExact(body, 17, 2),
    values: readValues(body, 19, publicKeyAlgorithm),
    unknownCritical: [],
  };
}

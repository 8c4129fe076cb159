// Bounds-checked reads of OpenPGP packet fields, shared by the V3 and V4 signature parsers.

export class MalformedPacket extends Error {}

/** Values (MPIs) per public-key algorithm that node:crypto verifies: RSA (1, 3) and legacy EdDSA (22). Others are
 * left unparsed, for OpenPGP.js. */
const VALUE_COUNT: Readonly<Record<number, number>> = { 1: 1, 3: 1, 22: 2 };

/** The MPIs after the header fields; only the algorithms node:crypto handles are parsed. */
export function readValues(body: Buffer, start: number, publicKeyAlgorithm: number): Buffer[] {
  const count = VALUE_COUNT[publicKeyAlgorithm];
  if (count === undefined) return [];
  const values: Buffer[] = [];
  let at = start;
  for (let index = 0; index < count; index++) {
    const bits = body.readUInt16BE(at);
    const value = readExact(body, at + 2, Math.ceil(bits / 8));
    values.push(value);
    at += 2 + value.length;
  }
  if (at !== body.length) throw new MalformedPacket(`${body.length - at} bytes after the signature values`);
  return values;
}

export function readExact(bytes: Buffer, start: number, length: number): Buffer {
  if (start + length > bytes.length) throw new MalformedPacket(`needs ${length} bytes at ${start}, has ${bytes.length}`);
  return bytes.subarray(start, start + length);
}

// RPM file layout: lead, signature header, main header, payload (reposync-anchors §1.1). The parser reads only the
// bytes it needs and checks every length against rpm's own limits and the file size before allocating anything,
// because packages come from mirrors we do not trust.
export type RpmFormatReason =
  | 'not_regular_file'
  | 'truncated'
  | 'bad_lead'
  | 'bad_header_magic'
  | 'header_too_large'
  | 'bad_index_entry'
  | 'bad_region'
  | 'bad_tag_data';

/** The file is not a well-formed RPM package; `reason` says which check failed. */
export class RpmFormatError extends Error {
  readonly reason: RpmFormatReason;

  constructor(reason: RpmFormatReason, message: string) {
    super(message);
    this.name = 'RpmFormatError';
    this.reason = reason;
  }
}

export const TagType = {
  NULL: 0,
  CHAR: 1,
  INT8: 2,
  INT16: 3,
  INT32: 4,
  INT64: 5,
  STRING: 6,
  BIN: 7,
  STRING_ARRAY: 8,
  I18NSTRING: 9,
} as const;

export const LEAD_SIZE = 96;
const LEAD_MAGIC = 0xedabeedb;

/** The bytes begin with an RPM lead's magic (what `file` and createrepo_c look for first). */
export function startsWithLead(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && Buffer.from(bytes.buffer, bytes.byteOffset, 4).readUInt32BE(0) === LEAD_MAGIC;
}
// rpm compares the full 8 bytes: the magic, version 1, then 4 reserved zero bytes.
const HEADER_MAGIC = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
const INTRO_SIZE = 16;
const ENTRY_SIZE = 16;
const RPMSIGTYPE_HEADERSIG = 5;

// rpm lib/header.cc hdrblobVerifyLengths.
const SIGNATURE_LIMITS = { maxEntries: 32, maxData: 64 * 1024 * 1024 };
const MAIN_LIMITS = { maxEntries: 0xffff, maxData: 0x0fffffff };

export const RegionTag = { HEADERIMAGE: 61, HEADERSIGNATURES: 62, HEADERIMMUTABLE: 63 } as const;

// Natural alignment of integer data inside the store; other types need none.
const ALIGNMENT: Readonly<Record<number, number>> = { [TagType.INT16]: 2, [TagType.INT32]: 4, [TagType.INT64]: 8 };

interface Entry {
  readonly type: number;
  readonly offset: number;
  readonly count: number;
}

/** One header structure (signature or main): intro, index and store, with typed, bounds-checked tag access. */
export class RpmHeader {
  /** Entries by tag; rpm forbids duplicates only loosely, and the first one wins as in headerGet. */
  private readonly entries = new Map<number, Entry>();
  private readonly store: Buffer;
  /** The header from its magic to the end of its store: exactly the bytes a header signature covers. */
  readonly blob: Buffer;

  /** @param regionTag 62 for the signature header, 63 for the main header */
  constructor(blob: Buffer, regionTag: number) {
    this.blob = blob;
    const il = blob.readUInt32BE(8);
    const dl = blob.readUInt32BE(12);
    this.store = blob.subarray(INTRO_SIZE + il * ENTRY_SIZE);
    for (let index = 0; index < il; index++) {
      const at = INTRO_SIZE + index * ENTRY_SIZE;
      const tag = blob.readUInt32BE(at);
      const entry = { type: blob.readUInt32BE(at + 4), offset: blob.readInt32BE(at + 8), count: blob.readUInt32BE(at + 12) };
      checkEntry(tag, entry, dl);
      if (!this.entries.has(tag)) this.entries.set(tag, entry);
    }
    checkRegion(blob, il, dl, this.store, regionTag);
  }

  has(tag: number): boolean {
    return this.entries.has(tag);
  }

  get tags(): number[] {
    return [...this.entries.keys()];
  }

  /** BIN data (a copy-free view into the header). */
  bin(tag: number): Buffer | undefined {
    const entry = this.entry(tag, [TagType.BIN]);
    return entry && this.slice(tag, entry.offset, entry.count);
  }

  /** A STRING, or the first element of a STRING_ARRAY or I18NSTRING. */
  string(tag: number): string | undefined {
    const entry = this.entry(tag, [TagType.STRING, TagType.STRING_ARRAY, TagType.I18NSTRING]);
    return entry && this.strings(tag, entry.offset, 1)[0];
  }

  stringArray(tag: number): string[] | undefined {
    const entry = this.entry(tag, [TagType.STRING, TagType.STRING_ARRAY, TagType.I18NSTRING]);
    return entry && this.strings(tag, entry.offset, entry.type === TagType.STRING ? 1 : entry.count);
  }

  /** INT8/INT16/INT32 values (INT64 too, when each fits in a double exactly). */
  numbers(tag: number): number[] | undefined {
    return this.integers(tag, Infinity);
  }

  /** The first value of an integer tag; reads no more, whatever count a hostile header claims. */
  number(tag: number): number | undefined {
    return this.integers(tag, 1)?.[0];
  }

  /** The entry's element count, without reading its data. */
  count(tag: number): number | undefined {
    return this.entries.get(tag)?.count;
  }

  private integers(tag: number, limit: number): number[] | undefined {
    const entry = this.entry(tag, [TagType.CHAR, TagType.INT8, TagType.INT16, TagType.INT32, TagType.INT64]);
    if (!entry) return undefined;
    const size = entry.type === TagType.INT64 ? 8 : entry.type === TagType.INT32 ? 4 : entry.type === TagType.INT16 ? 2 : 1;
    const data = this.slice(tag, entry.offset, Math.min(entry.count, limit) * size);
    const values: number[] = [];
    for (let at = 0; at < data.length; at += size) {
      if (size === 8) {
        const value = data.readBigUInt64BE(at);
        if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RpmFormatError('bad_tag_data', `tag ${tag}: INT64 too large`);
        values.push(Number(value));
      } else {
        values.push(data.readUIntBE(at, size));
      }
    }
    return values;
  }

  private entry(tag: number, types: readonly number[]): Entry | undefined {
    const entry = this.entries.get(tag);
    if (entry && !types.includes(entry.type)) {
      throw new RpmFormatError('bad_tag_data', `tag ${tag} has type ${entry.type}, expected one of ${types.join(', ')}`);
    }
    return entry;
  }

  private slice(tag: number, offset: number, length: number): Buffer {
    if (offset + length > this.store.length) {
      throw new RpmFormatError('bad_tag_data', `tag ${tag}: ${length} bytes at ${offset} run past the store`);
    }
    return this.store.subarray(offset, offset + length);
  }

  private strings(tag: number, offset: number, count: number): string[] {
    const values: string[] = [];
    let at = offset;
    for (let index = 0; index < count; index++) {
      const end = this.store.indexOf(0, at);
      if (end < 0) throw new RpmFormatError('bad_tag_data', `tag ${tag}: string without NUL`);
      values.push(this.store.toString('utf8', at, end));
      at = end + 1;
    }
    return values;
  }
}

export interface RpmLayout {
  readonly signature: RpmHeader;
  readonly header: RpmHeader;
  /** Offset of the main header's magic: header-only signatures cover [headerStart, headerEnd). */
  readonly headerStart: number;
  /** Offset of the payload, which runs to the end of the file. */
  readonly headerEnd: number;
  readonly fileSize: number;
}

/** Parses the headers of a package held in memory (at least up to the payload; `fileSize` defaults to its length). */
export function parseRpm(bytes: Buffer, fileSize = bytes.length): RpmLayout {
  const plan = locate(bytes, fileSize);
  if ('need' in plan) throw truncated(plan.need, bytes.length);
  return plan;
}

/** Positional read, like FileHandle.read: resolves to the number of bytes read, 0 at end of file. */
export type ReadAt = (buffer: Buffer, offset: number, length: number, position: number) => Promise<number>;

/** The first read covers a whole typical package (≈100 KiB), so a verifier needs no second read for it. */
export const FIRST_READ = 256 * 1024;

/**
 * Reads and parses the headers, growing the read as the header sizes become known. `prefix` is every byte read so
 * far (starting at offset 0), so a caller can hash the part of the payload it already holds instead of reading it
 * again; a caller that has already read the start of the file passes it in.
 */
export async function readRpmHeaders(
  readAt: ReadAt,
  fileSize: number,
  start?: Buffer,
): Promise<{ layout: RpmLayout; prefix: Buffer }> {
  let prefix = start ?? (await fill(readAt, Buffer.allocUnsafe(Math.min(fileSize, FIRST_READ)), 0));
  for (;;) {
    const plan = locate(prefix, fileSize);
    if (!('need' in plan)) return { layout: plan, prefix };
    // locate checked `need` against the file size and rpm's limits, so this allocation is bounded by both.
    const grown = Buffer.allocUnsafe(Math.min(fileSize, Math.max(plan.need, prefix.length * 2)));
    prefix.copy(grown);
    prefix = await fill(readAt, grown, prefix.length);
  }
}

/** Fills `buffer` from `from` on with the file's bytes at the same offsets; a short file is a truncated package. */
export async function fill(readAt: ReadAt, buffer: Buffer, from: number, position = from): Promise<Buffer> {
  let at = from;
  while (at < buffer.length) {
    const bytesRead = await readAt(buffer, at, buffer.length - at, position + at - from);
    if (bytesRead === 0) throw truncated(position + buffer.length - from, position + at - from);
    at += bytesRead;
  }
  return buffer;
}

/** The layout, or how many leading bytes are needed to find it. Throws when the claimed sizes cannot be right. */
function locate(bytes: Buffer, fileSize: number): RpmLayout | { need: number } {
  const needed = (end: number): { need: number } | undefined => {
    if (end > fileSize) throw truncated(end, fileSize);
    return end > bytes.length ? { need: end } : undefined;
  };

  const intro = needed(LEAD_SIZE + INTRO_SIZE);
  if (intro) return intro;
  checkLead(bytes);

  const signatureEnd = headerEnd(bytes, LEAD_SIZE, SIGNATURE_LIMITS, 'signature');
  // The signature header is padded to a multiple of 8 bytes, the main header's intro follows.
  const headerStart = signatureEnd + ((8 - (signatureEnd % 8)) % 8);
  const mainIntro = needed(headerStart + INTRO_SIZE);
  if (mainIntro) return mainIntro;
  const end = headerEnd(bytes, headerStart, MAIN_LIMITS, 'main');
  const main = needed(end);
  if (main) return main;

  return {
    signature: new RpmHeader(bytes.subarray(LEAD_SIZE, signatureEnd), RegionTag.HEADERSIGNATURES),
    header: new RpmHeader(bytes.subarray(headerStart, end), RegionTag.HEADERIMMUTABLE),
    headerStart,
    headerEnd: end,
    fileSize,
  };
}

function checkLead(bytes: Buffer): void {
  if (!startsWithLead(bytes)) throw new RpmFormatError('bad_lead', 'not an RPM package (no lead magic)');
  const major = bytes[4];
  if (major !== 3 && major !== 4) throw new RpmFormatError('bad_lead', `unsupported lead version ${major}`);
  const signatureType = bytes.readUInt16BE(78);
  if (signatureType !== RPMSIGTYPE_HEADERSIG) {
    throw new RpmFormatError('bad_lead', `lead signature type ${signatureType}, expected ${RPMSIGTYPE_HEADERSIG}`);
  }
}

/** End offset of the header whose intro is at `start` (the intro must be in `bytes`), after rpm's length limits. */
function headerEnd(
  bytes: Buffer,
  start: number,
  limits: { maxEntries: number; maxData: number },
  which: string,
): number {
  if (!bytes.subarray(start, start + HEADER_MAGIC.length).equals(HEADER_MAGIC)) {
    throw new RpmFormatError('bad_header_magic', `${which} header at offset ${start} has no header magic`);
  }
  const il = bytes.readUInt32BE(start + 8);
  const dl = bytes.readUInt32BE(start + 12);
  if (il < 1 || il > limits.maxEntries || dl > limits.maxData) {
    throw new RpmFormatError(
      'header_too_large',
      `${which} header claims ${il} entries and ${dl} data bytes (limits 1–${limits.maxEntries}, ${limits.maxData})`,
    );
  }
  return start + INTRO_SIZE + il * ENTRY_SIZE + dl;
}

// rpm hdrblobVerifyInfo: known type, natural alignment, data start inside the store.
function checkEntry(tag: number, entry: Entry, dl: number): void {
  const fail = (why: string): never => {
    throw new RpmFormatError('bad_index_entry', `tag ${tag}: ${why}`);
  };
  if (entry.type > TagType.I18NSTRING) fail(`unknown type ${entry.type}`);
  if (entry.offset < 0 || entry.offset > dl) fail(`offset ${entry.offset} outside the ${dl}-byte store`);
  if (entry.offset % (ALIGNMENT[entry.type] ?? 1) !== 0) fail(`offset ${entry.offset} misaligned for type ${entry.type}`);
  if (entry.count < 1 || entry.count > MAIN_LIMITS.maxData) fail(`count ${entry.count}`);
}

// rpm hdrblobVerifyRegion. A header without a region tag is a legacy header, which rpm still reads; a region that is
// present must describe itself consistently, which crafted headers rarely get right.
function checkRegion(blob: Buffer, il: number, dl: number, store: Buffer, regionTag: number): void {
  const firstTag = blob.readUInt32BE(INTRO_SIZE);
  const isRegion = firstTag === regionTag || (regionTag === RegionTag.HEADERIMMUTABLE && firstTag === RegionTag.HEADERIMAGE);
  if (!isRegion) return;
  const fail = (why: string): never => {
    throw new RpmFormatError('bad_region', `region tag ${firstTag}: ${why}`);
  };
  const type = blob.readUInt32BE(INTRO_SIZE + 4);
  const offset = blob.readInt32BE(INTRO_SIZE + 8);
  const count = blob.readUInt32BE(INTRO_SIZE + 12);
  if (type !== TagType.BIN || count !== ENTRY_SIZE) fail(`type ${type} count ${count}`);
  if (offset < 0 || offset + ENTRY_SIZE > dl) fail(`trailer at ${offset} outside the store`);

  let trailerTag = store.readUInt32BE(offset);
  // Some old packages put HEADERIMAGE in the signature region's trailer; rpm accepts that too.
  if (regionTag === RegionTag.HEADERSIGNATURES && trailerTag === RegionTag.HEADERIMAGE) trailerTag = regionTag;
  const trailerType = store.readUInt32BE(offset + 4);
  const regionBytes = -store.readInt32BE(offset + 8);
  const trailerCount = store.readUInt32BE(offset + 12);
  if (trailerTag !== firstTag && trailerTag !== regionTag) fail(`trailer tag ${trailerTag}`);
  if (trailerType !== TagType.BIN || trailerCount !== ENTRY_SIZE) fail(`trailer type ${trailerType} count ${trailerCount}`);
  if (regionBytes <= 0 || regionBytes % ENTRY_SIZE !== 0 || regionBytes / ENTRY_SIZE > il) {
    fail(`trailer claims ${regionBytes} index bytes for ${il} entries`);
  }
}

function truncated(end: number, size: number): RpmFormatError {
  return new RpmFormatError('truncated', `the file ends at byte ${size}, the package needs ${end}`);
}

// The RPM header reader against rpmbuild's packages and against damaged and hostile ones.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Keyring } from '../../src/gpg/keyring.js';
import { parseRpm, readRpmHeaders, RpmFormatError, type RpmFormatReason } from '../../src/rpm/header.js';
import { verifyRpm, verifyRpmBytes } from '../../src/rpm/verify.js';
import { buildRpms, withSignatureTags } from '../support/rpm.js';

let dir: string;
let small: string;
let large: string;
let bytes: Buffer;

const noKeys: Keyring = { keys: [], problems: [], findByKeyId: () => [] };

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'rpm-header-'));
  [small, large] = (await buildRpms(
    [
      { name: 'small-pkg', version: '1.2.3', release: '4', epoch: 2, payloadBytes: 10_000 },
      { name: 'large-pkg', version: '1.0', release: '1', payloadBytes: 3 * 1024 * 1024 },
    ],
    dir,
  )) as [string, string];
  bytes = await readFile(small);
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function formatError(run: () => unknown): RpmFormatReason | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof RpmFormatError) return error.reason;
    throw error;
  }
  return undefined;
}

test('finds the headers and payload where rpm does, with typed tag access', async () => {
  const layout = parseRpm(bytes);
  const { stdout } = await execa('rpm', [
    '-qp',
    '--qf',
    '%{NAME}|%{VERSION}|%{RELEASE}|%{EPOCH}|%{ARCH}|%{PAYLOADDIGEST}|%{PAYLOADDIGESTALGO}|%{FILENAMES}|%{SIGSIZE}',
    small,
  ]);
  const [name, version, release, epoch, arch, digest, algorithm, file, size] = stdout.split('|');
  const { header, signature } = layout;
  expect([header.string(1000), header.string(1001), header.string(1002)]).toEqual([name, version, release]);
  expect(header.number(1003)).toBe(Number(epoch));
  expect(header.string(1022)).toBe(arch);
  expect(header.stringArray(5092)).toEqual([digest]);
  expect(header.number(5093)).toBe(Number(algorithm));
  expect(`${header.stringArray(1118)?.[0]}${header.stringArray(1117)?.[0]}`).toBe(file);
  // SIGSIZE is the length of the main header plus payload, so it pins down where the header starts.
  expect(signature.number(1000)).toBe(Number(size));
  expect(layout.fileSize - layout.headerStart).toBe(Number(size));
  // The payload digest covers exactly [headerEnd, EOF), which pins down where the header ends.
  expect(createHash('sha256').update(bytes.subarray(layout.headerEnd)).digest('hex')).toBe(digest);
  expect(header.blob.subarray(0, 4).toString('hex')).toBe('8eade801');
  expect(() => header.bin(1000)).toThrow(RpmFormatError);
});

test('reads only the headers of a large package, not its payload', async () => {
  const file = await open(large);
  try {
    const { size } = await file.stat();
    let reads = 0;
    const readAt = async (buffer: Buffer, offset: number, length: number, position: number): Promise<number> => {
      reads++;
      return (await file.read(buffer, offset, length, position)).bytesRead;
    };
    const { layout, prefix } = await readRpmHeaders(readAt, size);
    expect(reads).toBe(1);
    expect(size).toBeGreaterThan(3 * 1024 * 1024);
    expect(prefix.length).toBeLessThan(size / 10);
    expect(layout.header.string(1000)).toBe('large-pkg');
  } finally {
    await file.close();
  }
});

test('a header entry whose data runs past the store is caught when read', () => {
  // Let FILESIZES (INT32) claim 100 values from the store's last aligned word: the index check passes, the read must not.
  const copy = Buffer.from(bytes);
  const { headerStart, header } = parseRpm(copy);
  const il = header.blob.readUInt32BE(8);
  const dl = header.blob.readUInt32BE(12);
  for (let index = 0; index < il; index++) {
    const at = headerStart + 16 + index * 16;
    if (copy.readUInt32BE(at) !== 1028) continue;
    copy.writeInt32BE(Math.floor((dl - 4) / 4) * 4, at + 8);
    copy.writeUInt32BE(100, at + 12);
  }
  const reparsed = parseRpm(copy).header;
  expect(formatError(() => reparsed.numbers(1028))).toBe('bad_tag_data');
});

test.each<[string, RpmFormatReason, (copy: Buffer, layout: ReturnType<typeof parseRpm>) => void]>([
  ['no lead magic', 'bad_lead', (copy) => copy.writeUInt32BE(0x12345678, 0)],
  ['a lead that is not a header-signature lead', 'bad_lead', (copy) => copy.writeUInt16BE(1, 78)],
  ['no signature header magic', 'bad_header_magic', (copy) => copy.writeUInt8(0, 96)],
  ['no main header magic', 'bad_header_magic', (copy, { headerStart }) => copy.writeUInt8(0, headerStart + 1)],
  ['a signature header over rpm’s entry limit', 'header_too_large', (copy) => copy.writeUInt32BE(33, 96 + 8)],
  ['a signature header over rpm’s data limit', 'header_too_large', (copy) => copy.writeUInt32BE(64 * 1024 * 1024 + 1, 96 + 12)],
  ['a main header over rpm’s entry limit', 'header_too_large', (copy, { headerStart }) => copy.writeUInt32BE(0x10000, headerStart + 8)],
  ['a main header claiming 4 GiB', 'header_too_large', (copy, { headerStart }) => copy.writeUInt32BE(0xffffffff, headerStart + 12)],
  [
    'a main header claiming 256 MiB in a small file',
    'truncated',
    (copy, { headerStart }) => copy.writeUInt32BE(0x0fffffff, headerStart + 12),
  ],
  ['an entry of unknown type', 'bad_index_entry', (copy, { headerStart }) => copy.writeUInt32BE(42, headerStart + 16 + 16 + 4)],
  ['an entry outside the store', 'bad_index_entry', (copy, { headerStart }) => copy.writeInt32BE(0x7fff0000, headerStart + 16 + 16 + 8)],
  ['a region tag with a wrong count', 'bad_region', (copy) => copy.writeUInt32BE(17, 96 + 16 + 12)],
  [
    'a region trailer with a wrong size',
    'bad_region',
    (copy, { signature }) => {
      const trailer = 96 + 16 + signature.blob.readUInt32BE(8) * 16 + signature.blob.readUInt32BE(12) - 16;
      copy.writeInt32BE(-16 * 40, trailer + 8);
    },
  ],
])('%s → RpmFormatError %s', async (_, reason, damage) => {
  const copy = Buffer.from(bytes);
  damage(copy, parseRpm(bytes));
  expect(formatError(() => parseRpm(copy))).toBe(reason);
  const result = await verifyRpmBytes(copy, noKeys);
  expect(result).toMatchObject({ ok: false, reason: 'corrupt' });
  expect(!result.ok && result.detail).toMatch(new RegExp(`^${reason}: `));
});

test('headers claiming the largest sizes rpm allows are rejected without allocating them', async () => {
  // 112 bytes of file claiming a 64 MiB signature header; another claiming 256 MiB for the main header.
  const lead = Buffer.from(bytes.subarray(0, 96 + 16));
  lead.writeUInt32BE(32, 96 + 8);
  lead.writeUInt32BE(64 * 1024 * 1024, 96 + 12);
  const main = Buffer.from(bytes.subarray(0, parseRpm(bytes).headerStart + 16));
  main.writeUInt32BE(0xffff, main.length - 8);
  main.writeUInt32BE(0x0fffffff, main.length - 4);
  const files = [path.join(dir, 'huge-signature.rpm'), path.join(dir, 'huge-main.rpm')];
  await writeFile(files[0]!, lead);
  await writeFile(files[1]!, main);

  const before = process.memoryUsage();
  for (let round = 0; round < 50; round++) {
    for (const file of files) {
      const result = await verifyRpm(file, noKeys);
      expect(result).toMatchObject({ ok: false, reason: 'corrupt' });
      expect(!result.ok && result.detail).toMatch(/^truncated: /);
    }
  }
  const after = process.memoryUsage();
  expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(16 * 1024 * 1024);
  expect(after.rss - before.rss).toBeLessThan(64 * 1024 * 1024);
});

test('random damage to the headers never throws: every result is a verdict', async () => {
  const { headerEnd } = parseRpm(bytes);
  let seed = 12345;
  const random = (limit: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % limit;
  };
  const reasons = new Set<string>();
  for (let round = 0; round < 2000; round++) {
    const copy = Buffer.from(bytes);
    for (let flips = 1 + random(4); flips > 0; flips--) copy[random(headerEnd)] = random(256);
    const cut = random(3) === 0 ? random(copy.length) : copy.length;
    const result = await verifyRpmBytes(copy.subarray(0, cut), noKeys);
    reasons.add(result.ok ? 'ok' : result.reason);
  }
  expect(reasons.has('ok')).toBe(false);
  expect(reasons).toContain('corrupt');
});

test('a FIFO or a directory where a package should be → corrupt, without hanging', async () => {
  const fifo = path.join(dir, 'planted.rpm');
  await execa('mkfifo', [fifo]);
  for (const file of [fifo, dir]) {
    const result = await verifyRpm(file, noKeys);
    expect(result).toMatchObject({ ok: false, reason: 'corrupt' });
    expect(!result.ok && result.detail).toMatch(/^not_regular_file: /);
  }
});

test('a signature header with a million rpm 6 signatures (tag 278) → corrupt, quickly', async () => {
  const flood = withSignatureTags(bytes, { 278: { type: 8, count: 1_000_000, data: Buffer.alloc(1_000_000) } });
  const started = performance.now();
  const result = await verifyRpmBytes(flood, noKeys);
  expect(result).toMatchObject({ ok: false, reason: 'corrupt' });
  expect(!result.ok && result.detail).toMatch(/^bad_tag_data: tag 278 holds 1000000 signatures/);
  expect(performance.now() - started).toBeLessThan(500);
});

// Real RPM packages made by the real `rpmbuild` and signed by the real `rpmsign`, for tests and benchmarks of
// repository sync and signature checks.
import { execa } from 'execa';
import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decryptKey, readPrivateKey } from 'openpgp';
import { rpmsignDefines, type GpgHome } from './gpg.js';

export interface RpmSpec {
  readonly name: string;
  readonly version: string;
  readonly release: string;
  /** 'noarch' unless given. */
  readonly arch?: string;
  readonly epoch?: number;
  /** Size of the one file the package holds: random bytes, so the package is about this big after compression. */
  readonly payloadBytes?: number;
  /** Summary/description text; lets two builds of one NEVRA differ in their header. */
  readonly summary?: string;
}

export const DEFAULT_PAYLOAD_BYTES = 100 * 1024;

// rpmbuild runs per spec file; two run at once because the test machines have two cores.
const PARALLEL_BUILDS = 2;
const MAX_SUBPACKAGES = 250;

/** Builds one unsigned package into outDir and returns its path. */
export async function buildRpm(spec: RpmSpec & { outDir: string }): Promise<string> {
  const [file] = await buildRpms([spec], spec.outDir);
  if (file === undefined) throw new Error(`rpmbuild made no package for ${spec.name}`);
  return file;
}

/**
 * Builds unsigned packages into outDir (`name-version-release.arch.rpm`) and returns their paths in the order of
 * `specs`. Packages that share version, release, epoch and arch are built as subpackages of one spec file, which is
 * far faster than one rpmbuild run per package.
 */
export async function buildRpms(specs: readonly RpmSpec[], outDir: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const names = new Set<string>();
  for (const spec of specs) {
    // Subpackages of one spec share version and release, so only the file name can clash.
    if (names.has(rpmFileName(spec))) throw new Error(`buildRpms: ${rpmFileName(spec)} given twice`);
    names.add(rpmFileName(spec));
  }

  const topdir = await mkdtemp(path.join(tmpdir(), 'rpmbuild-'));
  try {
    // Even split per group so both cores get work, capped because rpmbuild slows down on huge spec files.
    const batches = groupBySharedTags(specs).flatMap((group) =>
      split(group, Math.min(MAX_SUBPACKAGES, Math.ceil(group.length / PARALLEL_BUILDS))),
    );
    await pool(batches, PARALLEL_BUILDS, (batch, index) => runRpmbuild(topdir, outDir, `group${index}`, batch));
  } finally {
    await rm(topdir, { recursive: true, force: true });
  }
  return specs.map((spec) => path.join(outDir, rpmFileName(spec)));
}

export function rpmFileName(spec: RpmSpec): string {
  return `${spec.name}-${spec.version}-${spec.release}.${spec.arch ?? 'noarch'}.rpm`;
}

/**
 * Signs packages in place with one rpmsign call per core (rpmsign runs gpg once per file).
 * `extraArgs` e.g. ['--rpmv3'] adds the header+payload signature (tag 1002/1005) too.
 */
export async function signRpms(
  files: readonly string[],
  gpgHome: GpgHome,
  fingerprint: string,
  extraArgs: readonly string[] = [],
): Promise<void> {
  if (files.length === 0) return;
  const parts = split(files, Math.ceil(files.length / PARALLEL_BUILDS));
  await Promise.all(
    parts.map((part) =>
      execa('rpmsign', [...rpmsignDefines(fingerprint), ...extraArgs, '--addsign', ...part], {
        env: gpgHome.env,
      }),
    ),
  );
}

/** Specs that can be subpackages of one spec file: rpm shares version, release and epoch across subpackages. */
function groupBySharedTags(specs: readonly RpmSpec[]): RpmSpec[][] {
  const groups = new Map<string, RpmSpec[]>();
  for (const spec of specs) {
    const key = [spec.version, spec.release, spec.epoch ?? '', spec.arch ?? 'noarch'].join('\0');
    groups.set(key, [...(groups.get(key) ?? []), spec]);
  }
  return [...groups.values()];
}

function split<T>(items: readonly T[], size: number): T[][] {
  const step = Math.max(1, size);
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += step) out.push(items.slice(start, start + step));
  return out;
}

/** Runs `run` on every item, `width` at a time; after a failure it starts no more and waits for the running ones,
 * so that the caller's cleanup does not pull the directory from under a build. */
async function pool<T>(items: readonly T[], width: number, run: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const index = next++;
      await run(items[index] as T, index).catch((error: unknown) => {
        failed = true;
        throw error;
      });
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(width, items.length) }, worker));
  const rejected = results.find((result) => result.status === 'rejected');
  if (rejected) throw rejected.reason;
}

async function runRpmbuild(topdir: string, outDir: string, label: string, specs: readonly RpmSpec[]): Promise<void> {
  const first = specs[0];
  if (!first) return;
  // A topdir per run: rpmbuild creates its directories non-atomically, so parallel runs in one topdir race.
  const ownTopdir = path.join(topdir, label);
  await mkdir(ownTopdir);
  const specFile = path.join(ownTopdir, `${label}.spec`);
  await writeFile(specFile, specText(label, first, specs));
  const arch = first.arch ?? 'noarch';
  await execa('rpmbuild', [
    '-bb', '--nodeps', '--quiet',
    // --target rather than BuildArch, so that packages for any architecture build on this one.
    ...(arch === 'noarch' ? [] : ['--target', arch]),
    '--define', `_topdir ${ownTopdir}`,
    '--define', `_rpmdir ${outDir}`,
    '--define', '_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm',
    // Random bytes do not compress; a low level saves time without changing the package size.
    '--define', '_binary_payload w1.gzdio',
    // No debuginfo, no brp scripts (strip, byte-compile, …): nothing here needs them and they cost most of the time.
    '--define', 'debug_package %{nil}',
    '--define', '__os_install_post %{nil}',
    '--define', '_build_id_links none',
    specFile,
  ]);
}

// The main package has no %files, so rpmbuild writes only the subpackages, each named exactly as asked.
function specText(label: string, shared: RpmSpec, specs: readonly RpmSpec[]): string {
  const lines = [
    `Name: rt-${label}`,
    `Version: ${shared.version}`,
    `Release: ${shared.release}`,
    ...(shared.epoch === undefined ? [] : [`Epoch: ${shared.epoch}`]),
    'Summary: test packages',
    'License: GPL-2.0-or-later',
    ...(shared.arch === undefined || shared.arch === 'noarch' ? ['BuildArch: noarch'] : []),
    '%description',
    'Test packages built by test/support/rpm.ts.',
  ];
  for (const spec of specs) {
    lines.push(
      `%package -n ${spec.name}`,
      `Summary: ${spec.summary ?? `test package ${spec.name}`}`,
      `%description -n ${spec.name}`,
      spec.summary ?? `Test package ${spec.name}.`,
      `%files -n ${spec.name}`,
      `/usr/share/rt-test/${spec.name}`,
    );
  }
  lines.push('%install', 'mkdir -p %{buildroot}/usr/share/rt-test');
  for (const spec of specs) {
    lines.push(`head -c ${spec.payloadBytes ?? DEFAULT_PAYLOAD_BYTES} /dev/urandom > %{buildroot}/usr/share/rt-test/${spec.name}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A signature-header entry's raw value: type and the bytes in the store. */
export interface RawTag {
  readonly type: number;
  readonly count: number;
  readonly data: Buffer;
}

const BIN = 7;
const SIGNATURES_REGION = 62;

/** A copy of `bytes` with one bit flipped at `offset`: tampering that a digest or signature must catch. */
export function flip(bytes: Buffer, offset: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = (copy[offset] ?? 0) ^ 0x01;
  return copy;
}

/** Where `part` starts in `bytes`; throws when it is not there. */
export function offsetOf(bytes: Buffer, part: Buffer | string): number {
  const at = bytes.indexOf(part);
  if (at < 0) throw new Error('part not found');
  return at;
}

/**
 * A copy of the package with its signature header rebuilt: `changes` replaces or adds tags (BIN values given as
 * bytes) and removes those mapped to undefined. Lead, main header and payload are copied unchanged, so this makes
 * packages whose signatures rpmsign cannot make (a V3 packet, a second signature, none at all).
 */
export function withSignatureTags(rpm: Buffer, changes: Readonly<Record<number, Buffer | RawTag | undefined>>): Buffer {
  const tags = readSignatureTags(rpm);
  for (const [key, value] of Object.entries(changes)) {
    const tag = Number(key);
    if (value === undefined) tags.delete(tag);
    else tags.set(tag, Buffer.isBuffer(value) ? { type: BIN, count: value.length, data: value } : value);
  }
  tags.delete(SIGNATURES_REGION);
  const { end } = signatureHeaderBounds(rpm);
  const headerStart = end + ((8 - (end % 8)) % 8);
  return Buffer.concat([rpm.subarray(0, 96), buildSignatureHeader(tags), rpm.subarray(headerStart)]);
}

/** The signature header's entries by tag, with their raw data. */
export function readSignatureTags(rpm: Buffer): Map<number, RawTag> {
  const { il, dl, storeStart } = signatureHeaderBounds(rpm);
  const store = rpm.subarray(storeStart, storeStart + dl);
  const tags = new Map<number, RawTag>();
  for (let index = 0; index < il; index++) {
    const at = 96 + 16 + index * 16;
    const tag = rpm.readUInt32BE(at);
    const type = rpm.readUInt32BE(at + 4);
    const offset = rpm.readInt32BE(at + 8);
    const count = rpm.readUInt32BE(at + 12);
    tags.set(tag, { type, count, data: store.subarray(offset, offset + dataLength(store, type, offset, count)) });
  }
  return tags;
}

function signatureHeaderBounds(rpm: Buffer): { il: number; dl: number; storeStart: number; end: number } {
  const il = rpm.readUInt32BE(96 + 8);
  const dl = rpm.readUInt32BE(96 + 12);
  const storeStart = 96 + 16 + il * 16;
  return { il, dl, storeStart, end: storeStart + dl };
}

function dataLength(store: Buffer, type: number, offset: number, count: number): number {
  const sizes: Record<number, number> = { 0: 0, 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1 };
  const size = sizes[type];
  if (size !== undefined) return size * count;
  // Strings: STRING has one, STRING_ARRAY and I18NSTRING `count`, each NUL-terminated.
  let at = offset;
  for (let index = 0; index < (type === 6 ? 1 : count); index++) at = store.indexOf(0, at) + 1;
  return at - offset;
}

/** A signature header (intro, index, store, padding to 8) with the region tag and trailer rpm expects. */
function buildSignatureHeader(tags: ReadonlyMap<number, RawTag>): Buffer {
  const sorted = [...tags.entries()].sort(([a], [b]) => a - b);
  const il = sorted.length + 1;
  const index = Buffer.alloc(il * 16);
  const parts: Buffer[] = [];
  let size = 0;
  for (const [position, [tag, { type, count, data }]] of sorted.entries()) {
    const alignment = ({ 3: 2, 4: 4, 5: 8 } as Record<number, number>)[type] ?? 1;
    const padding = (alignment - (size % alignment)) % alignment;
    parts.push(Buffer.alloc(padding), data);
    size += padding;
    writeEntry(index, position + 1, tag, type, size, count);
    size += data.length;
  }
  const trailer = Buffer.alloc(16);
  trailer.writeUInt32BE(SIGNATURES_REGION, 0);
  trailer.writeUInt32BE(BIN, 4);
  trailer.writeInt32BE(-il * 16, 8);
  trailer.writeUInt32BE(16, 12);
  writeEntry(index, 0, SIGNATURES_REGION, BIN, size, 16);
  parts.push(trailer);
  size += 16;

  const intro = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  intro.writeUInt32BE(il, 8);
  intro.writeUInt32BE(size, 12);
  return Buffer.concat([intro, index, ...parts, Buffer.alloc((8 - (size % 8)) % 8)]);
}

function writeEntry(index: Buffer, position: number, tag: number, type: number, offset: number, count: number): void {
  index.writeUInt32BE(tag, position * 16);
  index.writeUInt32BE(type, position * 16 + 4);
  index.writeInt32BE(offset, position * 16 + 8);
  index.writeUInt32BE(count, position * 16 + 12);
}

/** The RSA secret key of a gpg key (no passphrase) as a node:crypto key, to make signatures gpg no longer makes. */
export async function rsaPrivateKeyFromGpg(gpgHome: GpgHome, fingerprint: string): Promise<KeyObject> {
  const batch = ['--batch', '--pinentry-mode', 'loopback', '--passphrase', ''];
  const { stdout } = await execa('gpg', [...batch, '--export-secret-keys', fingerprint], { env: gpgHome.env, encoding: 'buffer' });
  let key = await readPrivateKey({ binaryKey: new Uint8Array(stdout) });
  if (!key.isDecrypted()) key = await decryptKey({ privateKey: key, passphrase: '' });
  const { n, e } = key.keyPacket.publicParams as Record<string, Uint8Array>;
  const { d, p, q } = (key.keyPacket as unknown as { privateParams: Record<string, Uint8Array> }).privateParams;
  if (!n || !e || !d || !p || !q) throw new Error(`${fingerprint} is not an RSA key`);
  const [bn, bd, bp, bq] = [n, d, p, q].map(toBigInt) as [bigint, bigint, bigint, bigint];
  const jwk = {
    kty: 'RSA',
    n: b64url(bn),
    e: Buffer.from(e).toString('base64url'),
    d: b64url(bd),
    p: b64url(bp),
    q: b64url(bq),
    dp: b64url(bd % (bp - 1n)),
    dq: b64url(bd % (bq - 1n)),
    qi: b64url(modInverse(bq, bp)),
  };
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

/**
 * An OpenPGP V3 signature packet (RFC 4880 §5.2.2) over `data`: RSA, binary document, as old rpm/gpg, obs-sign and
 * Copr made them. GnuPG 2 cannot make these any more.
 */
export function v3RsaSignaturePacket(options: {
  data: Buffer;
  privateKey: KeyObject;
  keyId: string;
  created: Date;
  hash?: 'sha256' | 'sha512' | 'sha1';
}): Buffer {
  const hash = options.hash ?? 'sha256';
  const hashId = { sha1: 2, sha256: 8, sha512: 10 }[hash];
  const hashed = Buffer.alloc(5);
  hashed.writeUInt8(0x00, 0);
  hashed.writeUInt32BE(Math.floor(options.created.getTime() / 1000), 1);
  const signed = Buffer.concat([options.data, hashed]);
  const value = sign(hash, signed, options.privateKey);
  const digest = createHashOf(hash, signed);
  const mpi = Buffer.concat([u16(bitLength(value)), stripLeadingZeros(value)]);
  const body = Buffer.concat([
    Buffer.from([3, 5]),
    hashed,
    Buffer.from(options.keyId, 'hex'),
    Buffer.from([1, hashId]),
    digest.subarray(0, 2),
    mpi,
  ]);
  // Old-format packet header, tag 2, two-byte length: what rpm 4.x and gpg 1.x wrote.
  return Buffer.concat([Buffer.from([0x89]), u16(body.length), body]);
}

function createHashOf(algorithm: string, data: Buffer): Buffer {
  return createHash(algorithm).update(data).digest();
}

function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

function stripLeadingZeros(value: Buffer): Buffer {
  let start = 0;
  while (start < value.length - 1 && value[start] === 0) start++;
  return value.subarray(start);
}

function bitLength(value: Buffer): number {
  const stripped = stripLeadingZeros(value);
  return (stripped.length - 1) * 8 + (stripped[0] ?? 0).toString(2).length;
}

function toBigInt(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
}

function b64url(value: bigint): string {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex').toString('base64url');
}

function modInverse(value: bigint, modulus: bigint): bigint {
  let [oldR, r] = [value % modulus, modulus];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  return ((oldS % modulus) + modulus) % modulus;
}

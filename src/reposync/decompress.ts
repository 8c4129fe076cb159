// Decompression of repodata files (primary.xml.gz/.xz/.zst/.bz2), chosen by file name and confirmed by magic bytes.
//
// gz and zstd use node:zlib (built in, streaming, fastest measured). xz and bz2 run the xz-utils and bzip2 CLIs as
// child processes: node:zlib has neither, the CLIs are on every Fedora/RHEL/Debian host, and they decode natively in
// their own process, so on another core than the XML parse and outside the Node heap. Measured on the 75k-package
// primary of bench/primary-parse.ts (2 cores): xz CLI 2.8 s wall and 1.7 s Node CPU, against lzma-native (N-API)
// 5.7 s / 3.3 s and xz-decompress (WASM) 3.7–7 s / 3.3 s; bz2 CLI 2.9 s and 100 MiB, against unbzip2-stream (pure
// JS) 9.3 s and 450 MiB; seek-bzip decodes whole buffers only. No npm dependency is needed.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Duplex, PassThrough, pipeline, Transform, type TransformCallback } from 'node:stream';
import { constants, createGunzip, createZstdDecompress } from 'node:zlib';
import { RepoMetadataError } from './repomd.js';

export type Compression = 'gz' | 'xz' | 'zst' | 'bz2' | 'none';

const EXTENSIONS: ReadonlyArray<readonly [string, Compression]> = [
  ['.gz', 'gz'],
  ['.xz', 'xz'],
  ['.zst', 'zst'],
  ['.zstd', 'zst'],
  ['.bz2', 'bz2'],
];

const MAGIC: ReadonlyArray<readonly [Compression, Buffer]> = [
  ['gz', Buffer.from([0x1f, 0x8b])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zst', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['bz2', Buffer.from('BZh')],
];
const MAGIC_LENGTH = Math.max(...MAGIC.map(([, magic]) => magic.length));

// The largest window/dictionary a decoder may allocate. zstd's own default (ZSTD_WINDOWLOG_LIMIT_DEFAULT, 2^27) and
// xz -9's 64 MiB dictionary both fit; a crafted header asking for more is refused instead of allocated.
const ZSTD_WINDOW_LOG_MAX = 27;
const XZ_MEMLIMIT = '128MiB';
// zlib's default output chunk is 16 KiB; 64 KiB (a pipe's size, like the CLIs' reads) means fewer stream turns.
const CHUNK_SIZE = 64 * 1024;

/** Which compression a metadata file name says it has; throws on a suffix this mirror cannot decode (.zck, …). */
export function compressionOf(fileName: string): Compression {
  const found = EXTENSIONS.find(([extension]) => fileName.endsWith(extension));
  if (found) return found[1];
  if (/\.(xml|yaml|sqlite)$/.test(fileName)) return 'none';
  throw new RepoMetadataError(fileName, 'unknown compression (expected .gz, .xz, .zst, .zstd, .bz2 or none)');
}

/**
 * Decompresses `input` by the suffix of `hint` (the metadata file name) after checking that the first bytes are
 * that format's magic. Every failure (unknown suffix, wrong magic, corrupt or truncated data) is a
 * RepoMetadataError naming `hint`: thrown for the suffix, emitted as the returned stream's 'error' otherwise, and
 * never a clean end of a truncated stream.
 */
export function decompressStream(input: NodeJS.ReadableStream, hint: string): NodeJS.ReadableStream {
  const compression = compressionOf(hint);
  const check = new MagicCheck(compression, hint);
  // pipeline() destroys every stage with the first error, so it reaches whoever reads the last one.
  switch (compression) {
    case 'gz':
      return zlibPipeline(input, check, createGunzip({ chunkSize: CHUNK_SIZE }), hint);
    case 'zst':
      return zlibPipeline(input, check, createZstdDecompress({ chunkSize: CHUNK_SIZE, params: { [constants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX } }), hint);
    case 'xz':
      return pipeline(input, check, new CommandStream('xz', ['--decompress', '--stdout', '--format=xz', `--memlimit-decompress=${XZ_MEMLIMIT}`], hint), ignore);
    case 'bz2':
      return pipeline(input, check, new CommandStream('bzip2', ['--decompress', '--stdout'], hint), ignore);
    case 'none':
      return pipeline(input, check, ignore);
  }
}

// Errors reach the caller through the returned stream; pipeline() needs a callback all the same.
const ignore = (): void => {};

/**
 * zlib's errors ("unexpected end of file") do not name the file: a last stage re-emits the decoder's own error as a
 * RepoMetadataError, and leaves errors from elsewhere (the input's, say) as they are.
 */
function zlibPipeline(input: NodeJS.ReadableStream, check: MagicCheck, decode: Duplex, hint: string): NodeJS.ReadableStream {
  let decodeError: Error | undefined;
  decode.once('error', (err) => {
    decodeError = err;
  });
  const named = new PassThrough({
    destroy(err, callback) {
      callback(err !== null && err === decodeError ? new RepoMetadataError(hint, `corrupt or truncated data: ${err.message}`) : err);
    },
  });
  return pipeline(input, check, decode, named, ignore);
}

/** Passes bytes through once the first ones match the expected format (and, for plain files, no compressed one). */
class MagicCheck extends Transform {
  readonly #expected: Compression;
  readonly #hint: string;
  #head: Buffer | undefined = Buffer.alloc(0);

  constructor(expected: Compression, hint: string) {
    super();
    this.#expected = expected;
    this.#hint = hint;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#head === undefined) return callback(null, chunk);
    this.#head = Buffer.concat([this.#head, chunk]);
    if (this.#head.length < MAGIC_LENGTH) return callback();
    this.#release(callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#head === undefined) return callback();
    if (this.#head.length === 0) return callback(this.#expected === 'none' ? null : new RepoMetadataError(this.#hint, 'empty file'));
    this.#release(callback);
  }

  #release(callback: TransformCallback): void {
    const head = this.#head ?? Buffer.alloc(0);
    this.#head = undefined;
    const actual = MAGIC.find(([, magic]) => head.subarray(0, magic.length).equals(magic))?.[0] ?? 'none';
    if (actual === this.#expected) return callback(null, head);
    const found = actual === 'none' ? `no ${this.#expected} header` : `${actual} data`;
    callback(new RepoMetadataError(this.#hint, `name says ${this.#expected} but the file holds ${found} (first bytes ${head.subarray(0, MAGIC_LENGTH).toString('hex')})`));
  }
}

/**
 * A decompressor CLI as a Duplex: bytes in to stdin, decoded bytes out of stdout. The readable side ends only after
 * the process has exited with 0, so a truncated or corrupt input is an error (with the tool's own message), never a
 * short document.
 */
class CommandStream extends Duplex {
  readonly #child: ChildProcessWithoutNullStreams;
  #stderr = '';

  constructor(command: string, args: readonly string[], hint: string) {
    super();
    this.#child = spawn(command, args, { env: { ...process.env, LC_ALL: 'C' } });
    const child = this.#child;
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      if (this.#stderr.length < 1000) this.#stderr += text;
    });
    // The tool stops reading when it finds corrupt data: that shows as EPIPE here, and its exit status says why.
    child.stdin.on('error', () => {});
    child.on('error', (err) => this.destroy(new RepoMetadataError(hint, `cannot run ${command}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) this.push(null);
      else this.destroy(new RepoMetadataError(hint, `${command} failed (${signal ?? `exit ${code}`}): ${this.#stderr.trim() || 'no message'}`));
    });
  }

  override _read(): void {
    this.#child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.#child.stdin.writable) this.#child.stdin.write(chunk, () => callback());
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    // As in _write, a failed stdin is not the error to report: the exit status is.
    this.#child.stdin.end(() => callback());
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill();
    callback(err);
  }
}

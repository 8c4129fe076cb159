import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compressionOf, decompressStream } from '../../src/reposync/decompress.js';
import { parseRepomd, RepoMetadataError } from '../../src/reposync/repomd.js';
import { buildPackages, createrepo, sha, workDir, zstdVariant } from './fixtures/repos.js';

const FORMATS = ['gz', 'xz', 'bz2', 'zst'] as const;

let work: string;
/** Per format: the compressed primary from a real createrepo_c repo. */
const primaries = new Map<string, string>();
let openChecksum: string;

beforeAll(async () => {
  work = await workDir();
  const packages = await buildPackages(work);
  const gz = await createrepo(work, packages, ['--no-database', '--revision', '1']);
  primaries.set('gz', gz.primaryPath);
  for (const format of ['xz', 'bz2'] as const) {
    primaries.set(format, (await createrepo(work, packages, ['--no-database', '--revision', '1', '--general-compress-type', format])).primaryPath);
  }
  primaries.set('zst', await zstdVariant(gz.primaryPath));
  openChecksum = parseRepomd(gz.repomdXml, 'repomd.xml').entries.get('primary')?.openChecksum?.value ?? '';
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function primary(format: string): string {
  const file = primaries.get(format);
  if (file === undefined) throw new Error(`no ${format} primary`);
  return file;
}

async function decompressed(data: Buffer, hint: string, chunkSize = 64 * 1024): Promise<string> {
  const chunks = Array.from({ length: Math.ceil(data.length / chunkSize) }, (_, i) => data.subarray(i * chunkSize, (i + 1) * chunkSize));
  return text(decompressStream(Readable.from(chunks), hint));
}

async function failure(data: Buffer, hint: string): Promise<RepoMetadataError> {
  const err: unknown = await decompressed(data, hint).then(
    () => new Error('decompressed without an error'),
    (caught: unknown) => caught,
  );
  expect(err).toBeInstanceOf(RepoMetadataError);
  return err as RepoMetadataError;
}

describe('decompressStream on createrepo_c output', () => {
  it.each(FORMATS)('decodes %s to the exact bytes repomd.xml checksums', async (format) => {
    const xml = await text(decompressStream(createReadStream(primary(format)), path.basename(primary(format))));
    expect(sha('sha256', xml)).toBe(openChecksum);
    expect(xml).toContain('<metadata xmlns="http://linux.duke.edu/metadata/common"');
  });

  it.each(FORMATS)('decodes %s fed one byte at a time (magic split across chunks)', async (format) => {
    const xml = await decompressed(await readFile(primary(format)), path.basename(primary(format)), 1);
    expect(sha('sha256', xml)).toBe(openChecksum);
  });

  it('passes an uncompressed .xml through', async () => {
    const xml = await text(decompressStream(createReadStream(primary('gz')), 'x.gz'));
    expect(await decompressed(Buffer.from(xml), 'primary.xml')).toBe(xml);
  });

  it.each(FORMATS)('reports truncated %s as an error naming the file, not a short document', async (format) => {
    const data = await readFile(primary(format));
    const err = await failure(data.subarray(0, Math.floor(data.length * 0.6)), `cut.xml.${format}`);
    expect(err.file).toBe(`cut.xml.${format}`);
  });

  it.each(FORMATS)('reports corrupt %s as an error', async (format) => {
    const data = Buffer.from(await readFile(primary(format)));
    // Past the header: the magic still matches, so the decoder itself must notice.
    for (let i = 20; i < data.length - 20; i += 7) data[i] = (data[i] ?? 0) ^ 0x5a;
    await failure(data, `bad.xml.${format}`);
  });
});

describe('decompressStream checks magic bytes against the name', () => {
  it('refuses gzip data named .xz', async () => {
    const err = await failure(await readFile(primary('gz')), 'primary.xml.xz');
    expect(err.detail).toMatch(/name says xz but the file holds gz data/);
  });

  it('refuses plain XML named .gz', async () => {
    const err = await failure(Buffer.from('<?xml version="1.0"?><metadata/>'), 'primary.xml.gz');
    expect(err.detail).toMatch(/no gz header/);
  });

  it('refuses zstd data named .xml', async () => {
    const err = await failure(await readFile(primary('zst')), 'primary.xml');
    expect(err.detail).toMatch(/name says none but the file holds zst data/);
  });

  it('refuses an empty .zst', async () => {
    expect((await failure(Buffer.alloc(0), 'primary.xml.zst')).detail).toBe('empty file');
  });

  it('throws at once on a suffix it cannot decode', () => {
    expect(() => decompressStream(Readable.from([]), 'primary.xml.zck')).toThrow(RepoMetadataError);
    expect(() => compressionOf('primary.xml.lzma')).toThrow(/unknown compression/);
  });

  it('maps every supported suffix', () => {
    expect(['a.gz', 'a.xz', 'a.zst', 'a.zstd', 'a.bz2', 'a.xml'].map(compressionOf)).toEqual(['gz', 'xz', 'zst', 'zst', 'bz2', 'none']);
  });
});

describe('decompressStream errors and cleanup', () => {
  it('passes an error of the input stream on unchanged', async () => {
    const boom = new Error('connection reset');
    const input = new Readable({
      read() {
        this.push(gzipSync('<metadata'));
        this.destroy(boom);
      },
    });
    await expect(text(decompressStream(input, 'primary.xml.gz'))).rejects.toBe(boom);
  });

  it('stops the xz process when the reader gives up early', async () => {
    const big = path.join(work, 'big.xz');
    await writeFile(big, (await execa('xz', ['-0', '-T1'], { input: randomBytes(8 << 20), encoding: 'buffer' })).stdout);
    const output = decompressStream(createReadStream(big), 'big.xz') as Readable;
    for await (const _chunk of output) break;
    await expect.poll(() => childCommands(), { timeout: 5000 }).not.toContain('xz');
  });

  it('reports a missing tool as an error, not a hang', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await failure(await readFile(primary('bz2')), 'primary.xml.bz2');
      expect(err.detail).toMatch(/cannot run bzip2/);
    } finally {
      process.env.PATH = saved;
    }
  });
});

/** Names of this process's live child processes. */
async function childCommands(): Promise<string[]> {
  const names: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // comm is in parentheses and may hold spaces; ppid is the second field after it.
    const match = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat);
    if (match && Number(match[2]) === process.pid) names.push(match[1] ?? '');
  }
  return names;
}

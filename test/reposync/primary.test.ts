import { createReadStream, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Stream } from 'node:stream';
import { text } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompressStream } from '../../src/reposync/decompress.js';
import { parsePrimary, type PackageRecord } from '../../src/reposync/primary.js';
import { RepoMetadataError } from '../../src/reposync/repomd.js';
import { buildPackages, createrepo, ODD_HREF, sha, workDir, zstdVariant, type Packages } from './fixtures/repos.js';

let work: string;
let packages: Packages;
/** Per format: the compressed primary of one real createrepo_c repo. */
const primaries = new Map<string, string>();

beforeAll(async () => {
  work = await workDir();
  packages = await buildPackages(work);
  const gz = await createrepo(work, packages, ['--no-database']);
  primaries.set('gz', gz.primaryPath);
  primaries.set('zst', await zstdVariant(gz.primaryPath));
  for (const format of ['xz', 'bz2']) {
    primaries.set(format, (await createrepo(work, packages, ['--no-database', '--general-compress-type', format])).primaryPath);
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function recordsOf(file: string): Promise<PackageRecord[]> {
  const records: PackageRecord[] = [];
  const { count } = await parsePrimary(decompressStream(createReadStream(file), path.basename(file)), (p) => {
    records.push(p);
  });
  expect(count).toBe(records.length);
  return records;
}

function bytes(data: Buffer | string, chunkSize: number): Readable {
  const buffer = Buffer.from(data);
  return Readable.from(Array.from({ length: Math.ceil(buffer.length / chunkSize) }, (_, i) => buffer.subarray(i * chunkSize, (i + 1) * chunkSize)));
}

async function parseText(xml: string): Promise<PackageRecord[]> {
  const records: PackageRecord[] = [];
  await parsePrimary(Readable.from([xml]), (p) => {
    records.push(p);
  });
  return records;
}

async function parseError(xml: string): Promise<RepoMetadataError> {
  const err: unknown = await parseText(xml).then(
    () => new Error('parsed without an error'),
    (caught: unknown) => caught,
  );
  expect(err).toBeInstanceOf(RepoMetadataError);
  return err as RepoMetadataError;
}

describe('parsePrimary on createrepo_c output', () => {
  it('lists every package with the checksum, size and location of the real file', async () => {
    const records = await recordsOf(primaries.get('gz') as string);
    expect(records.map((r) => r.href).sort()).toEqual([...packages.keys()].sort());
    for (const record of records) {
      const file = packages.get(record.href) as Buffer;
      expect(record.checksum).toEqual({ type: 'sha256', value: sha('sha256', file) });
      expect(record.size).toBe(file.length);
      expect(record.base).toBeUndefined();
      // rpm:header-range starts at the main header, whose magic is 8e ad e8 01.
      const range = record.headerRange as { start: number; end: number };
      expect(file.subarray(range.start, range.start + 4).toString('hex')).toBe('8eade801');
      expect(range.end).toBeLessThanOrEqual(file.length);
      expect(record.buildTime).toBeGreaterThan(1_600_000_000);
    }
  });

  it('reads name, arch, epoch, version and release', async () => {
    const records = await recordsOf(primaries.get('gz') as string);
    const nevra = (name: string): object | undefined => {
      const r = records.find((record) => record.name === name && record.href !== ODD_HREF);
      return r && { name: r.name, arch: r.arch, epoch: r.epoch, version: r.version, release: r.release };
    };
    expect(nevra('alpha')).toEqual({ name: 'alpha', arch: 'noarch', epoch: 2, version: '1.0', release: '1' });
    expect(nevra('beta')).toEqual({ name: 'beta', arch: 'x86_64', epoch: 0, version: '2.5', release: '3.fc41' });
    expect(nevra('gamma-libs')).toEqual({ name: 'gamma-libs', arch: 'noarch', epoch: 0, version: '0.1~rc1', release: '7' });
  });

  it.each(['xz', 'bz2', 'zst'])('gives the same records from the %s primary as from gz', async (format) => {
    expect(await recordsOf(primaries.get(format) as string)).toEqual(await recordsOf(primaries.get('gz') as string));
  });

  it('decodes multi-byte UTF-8, character references and &amp; split across every chunk boundary', async () => {
    const xml = await text(decompressStream(createReadStream(primaries.get('gz') as string), 'primary.xml.gz'));
    // libxml2 writes non-ASCII in attributes as character references; other generators write raw UTF-8.
    expect(xml).toContain('Packages/&#xFC;&#x65E5;&#x672C;/gr&amp;&#xFC;&#xDF;-1.0-1.noarch.rpm');
    const raw = xml.replace(/&#x([0-9A-F]+);/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)));
    expect(raw).toContain('Packages/ü日本/gr&amp;üß-1.0-1.noarch.rpm');
    const whole = await parseText(xml);
    expect(whole.map((r) => r.href)).toContain(ODD_HREF);
    for (const variant of [xml, raw]) {
      for (const chunkSize of [1, 2, 3, 5]) {
        const records: PackageRecord[] = [];
        await parsePrimary(bytes(variant, chunkSize), (p) => {
          records.push(p);
        });
        expect(records).toEqual(whole);
      }
    }
  });

  it('keeps xml:base from createrepo_c --baseurl', async () => {
    const repo = await createrepo(work, packages, ['--no-database', '--baseurl', 'http://other.example/']);
    expect(new Set((await recordsOf(repo.primaryPath)).map((r) => r.base))).toEqual(new Set(['http://other.example/']));
  });

  it('keeps ../ hrefs from --location-prefix as written (packageFileName refuses them)', async () => {
    const repo = await createrepo(work, packages, ['--no-database', '--location-prefix', '../../']);
    for (const record of await recordsOf(repo.primaryPath)) expect(record.href).toMatch(/^\.\.\/\.\.\/Packages\//);
  });

  it("reads createrepo_c's type=\"sha\" as SHA-1 of the file", async () => {
    const repo = await createrepo(work, packages, ['--no-database', '--checksum', 'sha']);
    for (const record of await recordsOf(repo.primaryPath)) {
      expect(record.checksum).toEqual({ type: 'sha1', value: sha('sha1', packages.get(record.href) as Buffer) });
    }
  });

  it('passes a decompression error on (truncated .gz)', async () => {
    const gz = Readable.from([readFileSync(primaries.get('gz') as string).subarray(0, 300)]);
    await expect(parsePrimary(decompressStream(gz, 'primary.xml.gz'), () => {})).rejects.toThrow(/corrupt or truncated/);
  });
});

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm"';

function pkg(name: string, extra: { location?: string; checksum?: string; version?: string } = {}): string {
  return `<package type="rpm">
  <name>${name}</name>
  <arch>x86_64</arch>
  <version ${extra.version ?? 'epoch="0" ver="1.0" rel="1"'}/>
  ${extra.checksum ?? `<checksum type="sha256" pkgid="YES">${'ab'.repeat(32)}</checksum>`}
  <summary>s</summary>
  <description>${'A long description. '.repeat(20)}</description>
  <time file="1700000000" build="1690000000"/>
  <size package="1234" installed="5000" archive="5100"/>
  ${extra.location ?? `<location href="Packages/${name}-1.0-1.x86_64.rpm"/>`}
  <format>
    <rpm:license>MIT</rpm:license>
    <rpm:header-range start="4504" end="6009"/>
    <rpm:provides><rpm:entry name="${name}" flags="EQ" epoch="0" ver="1.0" rel="1"/></rpm:provides>
    <file>/usr/bin/${name}</file>
  </format>
</package>
`;
}

function doc(packagesXml: string[], declared: number | undefined = packagesXml.length): string {
  return `${HEAD}${declared === undefined ? '' : ` packages="${declared}"`}>\n${packagesXml.join('')}</metadata>\n`;
}

describe('parsePrimary refuses bad documents', () => {
  it('an internal DTD entity (billion laughs) without expanding it', async () => {
    const laughs = ['<!ENTITY lol "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`)];
    const xml = `<?xml version="1.0"?>\n<!DOCTYPE metadata [\n${laughs.join('\n')}\n]>\n${doc([pkg('a').replace('<summary>s</summary>', '<summary>&lol9;</summary>')]).replace(/^<\?xml[^>]*>\n/, '')}`;
    const started = process.hrtime.bigint();
    expect((await parseError(xml)).detail).toMatch(/DOCTYPE is not allowed/);
    expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(1);
  });

  it('XML that ends early', async () => {
    const xml = doc([pkg('a'), pkg('b')]);
    expect((await parseError(xml.slice(0, xml.length - 200))).detail).toMatch(/not well-formed XML/);
  });

  it('another root element or namespace', async () => {
    expect((await parseError('<repomd xmlns="http://linux.duke.edu/metadata/repo"/>')).detail).toMatch(/not a primary\.xml/);
    expect((await parseError(doc([]).replace('metadata/common', 'metadata/other'))).detail).toMatch(/not a primary\.xml/);
  });

  it('a package count that differs from <metadata packages>', async () => {
    expect((await parseError(doc([pkg('a'), pkg('b')], 3))).detail).toMatch(/packages="3"> but 2 packages/);
  });

  it('a package without a location', async () => {
    expect((await parseError(doc([pkg('a', { location: '' })]))).detail).toMatch(/package a lacks href/);
  });

  it('a checksum of the wrong length or type', async () => {
    const short = pkg('a', { checksum: '<checksum type="sha256" pkgid="YES">abcd</checksum>' });
    expect((await parseError(doc([short]))).detail).toMatch(/not 64 hex digits/);
    const odd = pkg('a', { checksum: `<checksum type="crc32" pkgid="YES">${'ab'.repeat(32)}</checksum>` });
    expect((await parseError(doc([odd]))).detail).toMatch(/unsupported checksum type "crc32"/);
  });

  it('a non-numeric epoch', async () => {
    expect((await parseError(doc([pkg('a', { version: 'epoch="x" ver="1" rel="1"' })]))).detail).toMatch(/epoch/);
  });

  it('a declared encoding other than UTF-8', async () => {
    expect((await parseError(doc([pkg('a')]).replace('UTF-8', 'ISO-8859-1'))).detail).toMatch(/ISO-8859-1 is not supported/);
  });

  it('names the line of a bad package', async () => {
    const err = await parseError(doc([pkg('a'), pkg('b', { location: '' })]));
    expect(err.line).toBeGreaterThan(20);
    expect(err.file).toBe('primary.xml');
  });
});

describe('parsePrimary streams', () => {
  it('reads a document without packages attribute or epoch', async () => {
    const records = await parseText(doc([pkg('a', { version: 'ver="1" rel="2"' })], undefined));
    expect(records).toEqual([
      {
        name: 'a',
        arch: 'x86_64',
        epoch: 0,
        version: '1',
        release: '2',
        checksum: { type: 'sha256', value: 'ab'.repeat(32) },
        size: 1234,
        href: 'Packages/a-1.0-1.x86_64.rpm',
        headerRange: { start: 4504, end: 6009 },
        buildTime: 1690000000,
      },
    ]);
  });

  it('waits for an async onPackage: one at a time, in order, without reading ahead', async () => {
    const total = 2000;
    const xml = Buffer.from(doc(Array.from({ length: total }, (_, i) => pkg(`p${i}`))));
    let pulled = 0;
    let pulledAtFirst = 0;
    let active = 0;
    const names: string[] = [];
    const chunkSize = 4096;
    const input = Readable.from(
      (function* () {
        for (let at = 0; at < xml.length; at += chunkSize) {
          pulled += Math.min(chunkSize, xml.length - at);
          yield xml.subarray(at, at + chunkSize);
        }
      })(),
    );
    const { count } = await parsePrimary(input, async (p) => {
      active++;
      expect(active).toBe(1);
      if (names.length === 0) {
        await sleep(50);
        pulledAtFirst = pulled;
      }
      names.push(p.name);
      await Promise.resolve();
      active--;
    });
    expect(count).toBe(total);
    expect(names).toEqual(Array.from({ length: total }, (_, i) => `p${i}`));
    // While the first package was pending, only the stream's read-ahead (16 chunks) was pulled from ~2 MB.
    expect(pulledAtFirst).toBeLessThan(xml.length / 10);
  });

  it('reads an old-style stream (what through-based decoders return), which is not async-iterable', async () => {
    const legacy = Object.assign(new Stream(), { readable: true, pause() {}, resume() {} });
    const xml = Buffer.from(doc([pkg('a'), pkg('b')]));
    setImmediate(() => {
      for (let at = 0; at < xml.length; at += 100) legacy.emit('data', xml.subarray(at, at + 100));
      legacy.emit('end');
    });
    const names: string[] = [];
    await parsePrimary(legacy as unknown as NodeJS.ReadableStream, (p) => {
      names.push(p.name);
    });
    expect(names).toEqual(['a', 'b']);
  });

  it('stops on an error thrown by onPackage and passes it on', async () => {
    const boom = new Error('disk full');
    let calls = 0;
    const parsing = parsePrimary(Readable.from([doc([pkg('a'), pkg('b'), pkg('c')])]), () => {
      calls++;
      throw boom;
    });
    await expect(parsing).rejects.toBe(boom);
    expect(calls).toBe(1);
  });
});

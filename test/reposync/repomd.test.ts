import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChecksum, parseRepomd, RepoMetadataError, type Repomd } from '../../src/reposync/repomd.js';
import { buildPackages, createrepo, sha, workDir, type Packages } from './fixtures/repos.js';

let work: string;
let packages: Packages;

beforeAll(async () => {
  work = await workDir();
  packages = await buildPackages(work);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function repomdError(xml: string): RepoMetadataError {
  try {
    parseRepomd(xml, 'http://mirror.example/repo/repodata/repomd.xml');
  } catch (err) {
    if (err instanceof RepoMetadataError) return err;
    throw err;
  }
  throw new Error('parsed without an error');
}

/** A repomd.xml shaped like createrepo_c's, with one primary entry of the given children. */
function minimal(primary: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
${primary}
  </data>
</repomd>
`;
}

const GOOD_ENTRY = `    <checksum type="sha256">${'0a'.repeat(32)}</checksum>
    <location href="repodata/x-primary.xml.gz"/>
    <size>10</size>`;

describe('parseRepomd on createrepo_c output', () => {
  it('lists every data file with the checksum and size of the real file', async () => {
    const repo = await createrepo(work, packages, ['--revision', 'r42']);
    const repomd: Repomd = parseRepomd(repo.repomdXml, 'repomd.xml');
    expect(repomd.revision).toBe('r42');
    expect([...repomd.entries.keys()].sort()).toEqual(['filelists', 'filelists_db', 'other', 'other_db', 'primary', 'primary_db']);
    for (const entry of repomd.entries.values()) {
      const file = await readFile(path.join(repo.root, entry.href));
      expect(entry.checksum).toEqual({ type: 'sha256', value: sha('sha256', file) });
      expect(entry.size).toBe(file.length);
      expect(entry.openSize).toBeGreaterThan(0);
      expect(entry.timestamp).toBeGreaterThan(1_600_000_000);
      expect(entry.openChecksum?.type).toBe('sha256');
    }
    expect(repomd.entries.get('primary')?.href).toMatch(/^repodata\/[0-9a-f]{64}-primary\.xml\.gz$/);
  });

  it.each(['xz', 'bz2'])('points at the %s primary when createrepo_c compresses with it', async (format) => {
    const repo = await createrepo(work, packages, ['--no-database', '--general-compress-type', format]);
    expect(parseRepomd(repo.repomdXml, 'repomd.xml').entries.get('primary')?.href).toMatch(new RegExp(`-primary\\.xml\\.${format}$`));
  });

  it('reads type="sha" (createrepo_c --checksum sha) as SHA-1', async () => {
    const repo = await createrepo(work, packages, ['--no-database', '--checksum', 'sha']);
    expect(repo.repomdXml).toContain('<checksum type="sha">');
    const primary = parseRepomd(repo.repomdXml, 'repomd.xml').entries.get('primary');
    const file = await readFile(path.join(repo.root, primary?.href ?? ''));
    expect(primary?.checksum).toEqual({ type: 'sha1', value: sha('sha1', file) });
  });
});

describe('parseRepomd refuses', () => {
  it('a repomd without primary, saying so', () => {
    const err = repomdError(minimal(GOOD_ENTRY).replace('type="primary"', 'type="filelists"'));
    expect(err.detail).toMatch(/no <data type="primary">/);
    expect(err.file).toBe('http://mirror.example/repo/repodata/repomd.xml');
  });

  it('an entry without checksum or location', () => {
    expect(repomdError(minimal(GOOD_ENTRY.replace(/<checksum.*<\/checksum>/, ''))).detail).toMatch(/has no <checksum>/);
    expect(repomdError(minimal(GOOD_ENTRY.replace(/<location[^>]*>/, ''))).detail).toMatch(/has no <location href>/);
  });

  it('a checksum of the wrong length, not hex, or of an unknown type', () => {
    expect(repomdError(minimal(GOOD_ENTRY.replace('0a0a', '0a'))).detail).toMatch(/not 64 hex digits/);
    expect(repomdError(minimal(GOOD_ENTRY.replace('0a0a', 'zz'))).detail).toMatch(/not 64 hex digits/);
    expect(repomdError(minimal(GOOD_ENTRY.replace('sha256', 'crc32'))).detail).toMatch(/unsupported checksum type "crc32"/);
  });

  it('a size that is not a count', () => {
    expect(repomdError(minimal(GOOD_ENTRY.replace('<size>10', '<size>-1'))).detail).toMatch(/size "-1" is not a count/);
  });

  it('a data type or field given twice', () => {
    const twice = minimal(GOOD_ENTRY).replace('</repomd>', `  <data type="primary">\n${GOOD_ENTRY}\n  </data>\n</repomd>`);
    expect(repomdError(twice).detail).toMatch(/<data type="primary"> given twice/);
    expect(repomdError(minimal(`${GOOD_ENTRY}\n<size>11</size>`)).detail).toMatch(/<size> given twice/);
  });

  it.each([
    ['../../etc/x.xml.gz', /has an empty, \. or \.\. segment/],
    ['/etc/x.xml.gz', /is absolute/],
    ['http://evil.example/x.xml.gz', /is absolute/],
    ['repodata/%2e%2e/x.xml.gz', /control character, backslash, \?, # or %/],
  ])('a location %s that leaves the repo', (href, message) => {
    expect(repomdError(minimal(GOOD_ENTRY.replace('repodata/x-primary.xml.gz', href))).detail).toMatch(message);
  });

  it('a location with xml:base', () => {
    const based = GOOD_ENTRY.replace('<location ', '<location xml:base="http://evil.example/" ');
    expect(repomdError(minimal(based)).detail).toMatch(/xml:base "http:\/\/evil\.example\/"/);
  });

  it('another document', () => {
    expect(repomdError('<metadata xmlns="http://linux.duke.edu/metadata/common"/>').detail).toMatch(/not a repomd\.xml: root <metadata>/);
    expect(repomdError('<html><body>404</body></html>').detail).toMatch(/not a repomd\.xml/);
  });

  it('XML that is not well-formed', () => {
    expect(repomdError(minimal(GOOD_ENTRY).slice(0, 200)).detail).toMatch(/not well-formed XML/);
  });

  it('a DOCTYPE with an internal entity (billion laughs) without expanding it', () => {
    const laughs = ['<!ENTITY a "aaaaaaaaaa">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY a${i + 1} "${`&a${i || ''};`.repeat(10)}">`)];
    const xml = minimal(GOOD_ENTRY).replace('<repomd ', `<!DOCTYPE repomd [\n${laughs.join('\n')}\n]>\n<repomd `).replace('1700000000', '&a9;');
    expect(repomdError(xml).detail).toMatch(/DOCTYPE is not allowed/);
  });
});

describe('parseChecksum', () => {
  it('normalises type and case', () => {
    expect(parseChecksum('SHA', 'ABCDEF0123456789ABCDEF0123456789ABCDEF01')).toEqual({ type: 'sha1', value: 'abcdef0123456789abcdef0123456789abcdef01' });
    expect(parseChecksum('md5', ` ${'f'.repeat(32)}\n`)).toEqual({ type: 'md5', value: 'f'.repeat(32) });
  });

  it('knows the length of each type', () => {
    expect(['sha224', 'sha384', 'sha512'].map((type) => typeof parseChecksum(type, '0'.repeat({ sha224: 56, sha384: 96, sha512: 128 }[type] ?? 0)))).toEqual([
      'object',
      'object',
      'object',
    ]);
    expect(parseChecksum('sha512', '0'.repeat(64))).toMatch(/not 128 hex digits/);
    expect(parseChecksum(undefined, '0'.repeat(64))).toMatch(/unsupported checksum type/);
    expect(parseChecksum('constructor', '')).toMatch(/unsupported checksum type/);
  });
});

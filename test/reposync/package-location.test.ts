import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decompressStream } from '../../src/reposync/decompress.js';
import { packageFileName, type LocationProblem, type PackageLocation } from '../../src/reposync/package-location.js';
import { parsePrimary, type PackageRecord } from '../../src/reposync/primary.js';
import { buildPackages, createrepo, workDir, type Packages } from './fixtures/repos.js';

const REPO = new URL('http://mirror.example/fedora/41/x86_64/os/');

let work: string;
let packages: Packages;

beforeAll(async () => {
  work = await workDir();
  packages = await buildPackages(work);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The locations of a real createrepo_c repo made with `args`. */
async function locations(args: readonly string[], repoUrl: URL | undefined): Promise<PackageLocation[]> {
  const repo = await createrepo(work, packages, ['--no-database', ...args]);
  const records: PackageRecord[] = [];
  await parsePrimary(decompressStream(createReadStream(repo.primaryPath), path.basename(repo.primaryPath)), (p) => {
    records.push(p);
  });
  return records.map((record) => packageFileName(record, repoUrl));
}

function problem(href: string, base?: string): LocationProblem | undefined {
  const location = packageFileName(base === undefined ? { href } : { href, base }, REPO);
  return location.ok ? undefined : location.problem;
}

describe('packageFileName on createrepo_c output', () => {
  it('names each package by its basename and downloads it from under the repo', async () => {
    const found = await locations([], REPO);
    expect(found.map((l) => (l.ok ? l.fileName : l.problem)).sort()).toEqual(
      [...packages.keys()].map((href) => href.slice(href.lastIndexOf('/') + 1)).sort(),
    );
    expect(found.map((l) => l.ok && l.url?.href).sort()).toEqual(
      [...packages.keys()].map((href) => new URL(href, REPO).href).sort(),
    );
  });

  it('gives no URL for a repo without one (a local directory)', async () => {
    for (const location of await locations([], undefined)) expect(location).toEqual({ ok: true, fileName: expect.stringMatching(/\.rpm$/) });
  });

  it('refuses the xml:base of createrepo_c --baseurl on another server', async () => {
    const found = await locations(['--baseurl', 'http://other.example/'], REPO);
    expect(found).toHaveLength(packages.size);
    for (const location of found) {
      expect(location).toMatchObject({ ok: false, problem: 'cross_origin_base', detail: expect.stringContaining('http://other.example/') });
    }
  });

  it('follows an xml:base on the repo server', async () => {
    const found = await locations(['--baseurl', 'http://mirror.example/archive/41/'], REPO);
    for (const location of found) {
      expect(location.ok && location.url?.href).toMatch(/^http:\/\/mirror\.example\/archive\/41\/Packages\//);
    }
  });

  it("refuses createrepo_c --location-prefix='../../' (CVE-2018-10897)", async () => {
    for (const location of await locations(['--location-prefix', '../../'], REPO)) {
      expect(location).toMatchObject({ ok: false, problem: 'dot_dot' });
    }
  });
});

describe('packageFileName rules', () => {
  it.each([
    ['Packages/a/foo-1-1.x86_64.rpm', 'foo-1-1.x86_64.rpm'],
    ['foo-1-1.src.rpm', 'foo-1-1.src.rpm'],
    ['Packages/c++-libs-1-1.noarch.rpm', 'c++-libs-1-1.noarch.rpm'],
    ['a/b/c/d/e~f^g.rpm', 'e~f^g.rpm'],
  ])('accepts %s as %s', (href, fileName) => {
    expect(packageFileName({ href }, REPO)).toEqual({ ok: true, fileName, url: new URL(href, REPO) });
  });

  it.each([
    ['/etc/cron.d/evil.rpm', 'absolute'],
    ['http://evil.example/x.rpm', 'absolute'],
    ['file:///etc/x.rpm', 'absolute'],
    ['//evil.example/x.rpm', 'absolute'],
    ['../x.rpm', 'dot_dot'],
    ['Packages/../../x.rpm', 'dot_dot'],
    ['Packages/..', 'dot_dot'],
    ['.x.rpm', 'hidden'],
    ['Packages/.partial/x.rpm', 'hidden'],
    ['./x.rpm', 'hidden'],
    ['.rpm', 'hidden'],
    ['Packages/x.rpm.sh', 'not_rpm'],
    ['Packages/x.RPM', 'not_rpm'],
    ['Packages/', 'not_rpm'],
    ['', 'not_rpm'],
    ['Packages\\..\\x.rpm', 'bad_chars'],
    ['Packages/x\0.rpm', 'bad_chars'],
    ['Packages/x\n.rpm', 'bad_chars'],
    ['Packages/x\t.rpm', 'bad_chars'],
    [' /etc/x.rpm', 'bad_chars'],
    ['Packages/%2e%2e/%2e%2e/x.rpm', 'bad_chars'],
    ['Packages/x.rpm?.rpm', 'bad_chars'],
    ['Packages/y.rpm#/x.rpm', 'bad_chars'],
  ] as const)('refuses %j as %s', (href, expected) => {
    expect(problem(href)).toBe(expected);
  });

  it.each([
    'https://mirror.example/fedora/',
    'http://mirror.example:8080/fedora/',
    'http://evil.example/fedora/',
    'ftp://mirror.example/fedora/',
    'file:///srv/repo/',
  ])('refuses xml:base %s on another origin', (base) => {
    expect(problem('Packages/x.rpm', base)).toBe('cross_origin_base');
  });

  it('refuses any xml:base when the repo has no URL to compare with', () => {
    expect(packageFileName({ href: 'Packages/x.rpm', base: 'http://mirror.example/' }, undefined)).toMatchObject({ ok: false, problem: 'cross_origin_base' });
  });

  it('resolves a same-origin xml:base, relative or absolute, as a directory', () => {
    const at = (base: string): string | undefined => {
      const location = packageFileName({ href: 'Packages/x.rpm', base }, REPO);
      return location.ok ? location.url?.href : location.problem;
    };
    expect(at('http://MIRROR.example:80/other')).toBe('http://mirror.example/other/Packages/x.rpm');
    expect(at('../../../42/')).toBe('http://mirror.example/fedora/42/Packages/x.rpm');
    expect(at('/pub/')).toBe('http://mirror.example/pub/Packages/x.rpm');
  });

  it('treats a repo URL without a trailing slash as the directory', () => {
    const location = packageFileName({ href: 'Packages/x.rpm' }, new URL('ftp://mirror.example/pub/repo?token=1'));
    expect(location).toEqual({ ok: true, fileName: 'x.rpm', url: new URL('ftp://mirror.example/pub/repo/Packages/x.rpm') });
  });

  it('keeps every accepted download URL under the repo or base directory', () => {
    for (const href of ['a.rpm', 'P/a.rpm', 'P/a:b.rpm', 'P//a.rpm', 'ü/日本.rpm', 'P/a=b&c.rpm']) {
      const location = packageFileName({ href }, REPO);
      expect(location.ok && location.url?.href.startsWith(REPO.href)).toBe(true);
    }
  });

  it('maps different hrefs to one file name: the caller compares checksums', () => {
    const names = ['a/foo-1-1.noarch.rpm', 'b/foo-1-1.noarch.rpm'].map((href) => {
      const location = packageFileName({ href }, REPO);
      return location.ok && location.fileName;
    });
    expect(names).toEqual(['foo-1-1.noarch.rpm', 'foo-1-1.noarch.rpm']);
  });

  it('says what was refused and why', () => {
    expect(packageFileName({ href: '../../x.rpm', base: 'http://mirror.example/' }, REPO)).toEqual({
      ok: false,
      problem: 'dot_dot',
      detail: 'location "../../x.rpm" (xml:base "http://mirror.example/") has a .. segment',
    });
  });
});

// primary.xml: the package list. Parsed as a stream because Fedora's is 150–250 MB once decompressed.
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { parseChecksum, parseCount, rejectDoctype, RepoMetadataError, type Checksum } from './repomd.js';

const COMMON_NS = 'http://linux.duke.edu/metadata/common';
const RPM_NS = 'http://linux.duke.edu/metadata/rpm';

/** What a mirror needs of one `<package>`; everything else (descriptions, dependencies, files) is dropped. */
export interface PackageRecord {
  readonly name: string;
  readonly arch: string;
  /** 0 when the version has no epoch attribute. */
  readonly epoch: number;
  readonly version: string;
  readonly release: string;
  /** Of the whole .rpm file (`pkgid="YES"`). */
  readonly checksum: Checksum;
  /** The .rpm file's size in bytes (`<size package>`). */
  readonly size: number;
  /** As written, relative to `base` or the repo root; check it with packageFileName() before any use. */
  readonly href: string;
  /** `xml:base` of the location: another server or directory the package is fetched from. */
  readonly base?: string;
  readonly headerRange?: { readonly start: number; readonly end: number };
  /** Seconds since the epoch. */
  readonly buildTime?: number;
}

interface Draft {
  name?: string;
  arch?: string;
  epoch?: number;
  version?: string;
  release?: string;
  checksumType?: string;
  checksum?: Checksum;
  size?: number;
  href?: string;
  base?: string;
  headerRange?: { start: number; end: number };
  buildTime?: number;
}

/** Children of `<package>` whose text is kept. */
type TextField = 'name' | 'arch' | 'checksum';
const TEXT_FIELDS: ReadonlySet<string> = new Set<TextField>(['name', 'arch', 'checksum']);

/**
 * Streams `xml` (decompressed primary.xml, as bytes or strings) through a SAX parser and calls `onPackage` once per
 * `<package>`, in document order. Memory stays bounded: only the package being read and those completed in the
 * current chunk are held. When `onPackage` returns a promise, the next package waits for it and reading pauses
 * (backpressure). Resolves with the number of packages, which must match `<metadata packages="N">`.
 *
 * Rejects with RepoMetadataError (named `source`) when the XML is not well-formed, is not a primary.xml, declares
 * a non-UTF-8 encoding or a DOCTYPE, or a package lacks a field or has a malformed one; errors from the stream or
 * from `onPackage` are passed on as they are.
 */
export async function parsePrimary(
  xml: NodeJS.ReadableStream,
  onPackage: (p: PackageRecord) => void | Promise<void>,
  source = 'primary.xml',
): Promise<{ count: number }> {
  const parser = new SaxesParser();
  const fail = (detail: string): never => {
    throw new RepoMetadataError(source, detail, parser.line);
  };
  const ready: PackageRecord[] = [];
  let declared: number | undefined;
  let depth = 0;
  let draft: Draft | undefined;
  let capture: TextField | undefined;
  let text = '';

  rejectDoctype(parser, fail);
  parser.on('xmldecl', (decl) => {
    if (decl.encoding !== undefined && decl.encoding.toLowerCase() !== 'utf-8') fail(`encoding ${decl.encoding} is not supported (only UTF-8)`);
  });
  parser.on('opentag', (tag: SaxesTagPlain) => {
    depth++;
    if (depth === 1) declared = readRoot(tag, fail);
    else if (depth === 2 && tag.name === 'package') draft = {};
    else if (draft !== undefined) {
      if (depth === 3) readPackageTag(tag, draft, fail);
      else if (depth === 4 && tag.name === 'rpm:header-range') draft.headerRange = readHeaderRange(tag, fail);
      if (depth === 3 && TEXT_FIELDS.has(tag.name)) {
        capture = tag.name as TextField;
        text = '';
      }
    }
  });
  parser.on('text', (chunk) => {
    if (capture !== undefined) text += chunk;
  });
  parser.on('closetag', () => {
    depth--;
    if (depth === 2 && capture !== undefined) {
      setText(capture, text, draft as Draft, fail);
      capture = undefined;
    } else if (depth === 1 && draft !== undefined) {
      ready.push(finish(draft, fail));
      draft = undefined;
    }
  });

  const decoder = new StringDecoder('utf8');
  let count = 0;
  // saxes throws plain Errors for XML syntax; our handlers throw RepoMetadataError, which goes through as is.
  const parse = (step: () => void): void => {
    try {
      step();
    } catch (err) {
      if (err instanceof RepoMetadataError) throw err;
      throw new RepoMetadataError(source, `not well-formed XML: ${(err as Error).message}`);
    }
  };
  const deliver = async (): Promise<void> => {
    for (const record of ready.splice(0)) {
      count++;
      const pending = onPackage(record);
      if (pending !== undefined) await pending;
    }
  };

  // Old-style streams (`through`, …) are not async-iterable; wrap() makes them so.
  const chunks = xml instanceof Readable ? xml : new Readable().wrap(xml);
  for await (const chunk of chunks) {
    // A multi-byte character split across chunks must be joined before the parser sees it.
    parse(() => parser.write(typeof chunk === 'string' ? chunk : decoder.write(chunk)));
    await deliver();
  }
  parse(() => parser.write(decoder.end()).close());
  await deliver();
  if (declared !== undefined && declared !== count) fail(`<metadata packages="${declared}"> but ${count} packages were listed`);
  return { count };
}

function readRoot(tag: SaxesTagPlain, fail: (detail: string) => never): number | undefined {
  // Without xmlns processing (2–3× slower in saxes) tags are matched by qualified name: the root must bind the
  // default and `rpm:` prefixes to the namespaces createrepo_c uses, so `rpm:header-range` means what we think.
  const { xmlns, 'xmlns:rpm': rpmNs, packages } = tag.attributes;
  if (tag.name !== 'metadata' || xmlns !== COMMON_NS) fail(`not a primary.xml: root <${tag.name}> in namespace ${JSON.stringify(xmlns)}`);
  if (rpmNs !== undefined && rpmNs !== RPM_NS) fail(`prefix rpm is bound to ${JSON.stringify(rpmNs)}, not ${RPM_NS}`);
  if (packages === undefined) return undefined;
  const declared = parseCount(packages, 'packages');
  return typeof declared === 'string' ? fail(declared) : declared;
}

function readPackageTag(tag: SaxesTagPlain, draft: Draft, fail: (detail: string) => never): void {
  const attribute = (key: string): string | undefined => tag.attributes[key];
  const count = (key: string): number => {
    const parsed = parseCount(attribute(key) ?? '', `<${tag.name} ${key}>`);
    return typeof parsed === 'string' ? fail(parsed) : parsed;
  };
  switch (tag.name) {
    case 'version':
      draft.epoch = attribute('epoch') === undefined ? 0 : count('epoch');
      draft.version = detach(attribute('ver'));
      draft.release = detach(attribute('rel'));
      break;
    case 'checksum':
      draft.checksumType = attribute('type');
      break;
    case 'size':
      draft.size = count('package');
      break;
    case 'location':
      draft.href = detach(attribute('href'));
      draft.base = detach(attribute('xml:base'));
      break;
    case 'time':
      if (attribute('build') !== undefined) draft.buildTime = count('build');
      break;
  }
}

function readHeaderRange(tag: SaxesTagPlain, fail: (detail: string) => never): { start: number; end: number } {
  const start = parseCount(tag.attributes.start ?? '', 'header-range start');
  const end = parseCount(tag.attributes.end ?? '', 'header-range end');
  if (typeof start === 'string') return fail(start);
  if (typeof end === 'string') return fail(end);
  if (end < start) fail(`header-range end ${end} is before start ${start}`);
  return { start, end };
}

function setText(field: TextField, text: string, draft: Draft, fail: (detail: string) => never): void {
  if (field === 'checksum') {
    const checksum = parseChecksum(draft.checksumType, text);
    if (typeof checksum === 'string') fail(`package ${draft.name ?? '?'}: ${checksum}`);
    else draft.checksum = { type: checksum.type, value: detach(checksum.value) };
  } else {
    draft[field] = detach(text.trim());
  }
}

/**
 * A copy of `text` that does not share memory with the chunk it was cut from. V8 represents substrings (what the
 * parser hands us) as slices that keep the whole chunk alive: a caller keeping 75k records would otherwise keep
 * most of the document (measured: 560 MiB instead of 220 MiB).
 */
function detach<T extends string | undefined>(text: T): T {
  return (text === undefined ? text : (' ' + text).slice(1)) as T;
}

function finish(draft: Draft, fail: (detail: string) => never): PackageRecord {
  const { name, arch, epoch, version, release, checksum, size, href, base, headerRange, buildTime } = draft;
  const missing = Object.entries({ name, arch, version, release, checksum, size, href })
    .filter(([, value]) => value === undefined || value === '')
    .map(([key]) => key);
  if (missing.length > 0) fail(`package ${name ?? '?'} lacks ${missing.join(', ')}`);
  return {
    name: name as string,
    arch: arch as string,
    epoch: epoch ?? 0,
    version: version as string,
    release: release as string,
    checksum: checksum as Checksum,
    size: size as number,
    href: href as string,
    ...(base === undefined ? {} : { base }),
    ...(headerRange === undefined ? {} : { headerRange }),
    ...(buildTime === undefined ? {} : { buildTime }),
  };
}

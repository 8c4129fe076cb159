// repodata/repomd.xml: the index that names (and checksums) primary.xml and the other metadata files.
import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { LocatedError } from '../located-error.js';

/** A problem in fetched repository metadata (repomd.xml, primary.xml, or their compression). */
export class RepoMetadataError extends LocatedError {
  constructor(source: string, detail: string, line?: number) {
    super(source, line, detail);
  }
}

const REPO_NS = 'http://linux.duke.edu/metadata/repo';

export type ChecksumType = 'sha256' | 'sha512' | 'sha1' | 'md5' | 'sha224' | 'sha384';

export interface Checksum {
  readonly type: ChecksumType;
  /** Lower-case hex. */
  readonly value: string;
}

const HEX_LENGTH: Readonly<Record<ChecksumType, number>> = {
  md5: 32,
  sha1: 40,
  sha224: 56,
  sha256: 64,
  sha384: 96,
  sha512: 128,
};

/**
 * Reads a `checksum type="…"` pair as createrepo_c writes it. `sha` is yum's old name for SHA-1 and createrepo_c
 * still writes it verbatim. A digest of the wrong length could never match, so it is an error here rather than a
 * checksum mismatch after a download. Returns a message instead of throwing so each caller can locate it.
 */
export function parseChecksum(type: string | undefined, value: string): Checksum | string {
  const name = type?.toLowerCase() === 'sha' ? 'sha1' : type?.toLowerCase();
  if (name === undefined || !Object.hasOwn(HEX_LENGTH, name)) return `unsupported checksum type ${JSON.stringify(type)}`;
  const checksumType = name as ChecksumType;
  const hex = value.trim().toLowerCase();
  if (hex.length !== HEX_LENGTH[checksumType] || !/^[0-9a-f]*$/.test(hex)) {
    return `${checksumType} checksum ${JSON.stringify(value.trim())} is not ${HEX_LENGTH[checksumType]} hex digits`;
  }
  return { type: checksumType, value: hex };
}

/** Parses a decimal count (sizes, offsets): a non-negative safe integer, or a message. */
export function parseCount(text: string, what: string): number | string {
  const trimmed = text.trim();
  const value = Number(trimmed);
  if (!/^\d+$/.test(trimmed) || !Number.isSafeInteger(value)) return `${what} ${JSON.stringify(trimmed)} is not a count`;
  return value;
}

export interface RepomdEntry {
  readonly type: string;
  /** Relative to the repo root, e.g. `repodata/<hash>-primary.xml.zst`; checked to stay inside the repo. */
  readonly href: string;
  /** Of the file as stored (compressed). */
  readonly checksum: Checksum;
  /** Of the decompressed content. */
  readonly openChecksum?: Checksum;
  readonly size?: number;
  readonly openSize?: number;
  /** Seconds since the epoch; old createrepo wrote fractions. */
  readonly timestamp?: number;
}

export interface Repomd {
  readonly revision?: string;
  /** By data type (`primary`, `filelists`, `updateinfo`, …). Always holds `primary`. */
  readonly entries: ReadonlyMap<string, RepomdEntry>;
}

interface EntryDraft {
  type: string;
  href?: string;
  checksum?: Checksum;
  openChecksum?: Checksum;
  size?: number;
  openSize?: number;
  timestamp?: number;
}

/**
 * Parses repomd.xml. `source` names it in errors (its URL or path). Throws RepoMetadataError when the document is
 * not well-formed, is not a repomd, has no primary, repeats a data type or a field, or holds a location that
 * leaves the repo (absolute, `..`, a URL, `xml:base`): the caller fetches `repoUrl + href`, so such a location
 * would make it fetch from elsewhere.
 */
export function parseRepomd(xml: string, source: string): Repomd {
  const parser = new SaxesParser();
  const fail = (detail: string): never => {
    throw new RepoMetadataError(source, detail, parser.line);
  };
  const entries = new Map<string, RepomdEntry>();
  let depth = 0;
  let revision: string | undefined;
  let entry: EntryDraft | undefined;
  let text = '';
  let checksumType: string | undefined;

  rejectDoctype(parser, fail);
  parser.on('opentag', (tag: SaxesTagPlain) => {
    depth++;
    text = '';
    if (depth === 1) {
      if (tag.name !== 'repomd' || tag.attributes.xmlns !== REPO_NS) fail(`not a repomd.xml: root <${tag.name}> in namespace ${JSON.stringify(tag.attributes.xmlns)}`);
    } else if (depth === 2 && tag.name === 'data') {
      const type = tag.attributes.type;
      if (!type) fail('<data> without a type');
      entry = { type: type as string };
    } else if (depth === 3 && entry) {
      if (tag.name === 'location') readLocation(tag, entry, fail);
      if (tag.name === 'checksum' || tag.name === 'open-checksum') checksumType = tag.attributes.type;
    }
  });
  parser.on('text', (chunk) => {
    text += chunk;
  });
  parser.on('closetag', (tag: SaxesTagPlain) => {
    depth--;
    if (depth === 1 && tag.name === 'revision') revision = text.trim();
    else if (depth === 1 && tag.name === 'data' && entry) {
      entries.set(entry.type, finishEntry(entry, entries, fail));
      entry = undefined;
    } else if (depth === 2 && entry) {
      readField(tag.name, text, checksumType, entry, fail);
    }
  });

  try {
    parser.write(xml).close();
  } catch (err) {
    if (err instanceof RepoMetadataError) throw err;
    throw new RepoMetadataError(source, `not well-formed XML: ${(err as Error).message}`);
  }
  if (!entries.has('primary')) fail('no <data type="primary">: the repo has no package list');
  return { ...(revision ? { revision } : {}), entries };
}

/**
 * Refuses any DOCTYPE. saxes already leaves internal entities unexpanded (so `&lol9;` is an error, not a billion
 * laughs), but repodata never has a DTD, so one is a sign of a hostile or broken document.
 */
export function rejectDoctype(parser: SaxesParser, fail: (detail: string) => never): void {
  parser.on('doctype', () => fail('a DOCTYPE is not allowed in repository metadata'));
}

function readLocation(tag: SaxesTagPlain, entry: EntryDraft, fail: (detail: string) => never): void {
  if (tag.attributes['xml:base'] !== undefined) {
    fail(`<data type="${entry.type}"> location has xml:base ${JSON.stringify(tag.attributes['xml:base'])}: metadata must come from the repo itself`);
  }
  const href = tag.attributes.href;
  if (!href) fail(`<data type="${entry.type}"> location without href`);
  const problem = metadataHrefProblem(href as string);
  if (problem) fail(`<data type="${entry.type}"> location ${JSON.stringify(href)} ${problem}`);
  if (entry.href !== undefined) fail(`<data type="${entry.type}"> has two locations`);
  entry.href = href as string;
}

function metadataHrefProblem(href: string): string | undefined {
  if (/[\x00-\x1f\x7f\\?#%]/.test(href)) return 'holds a control character, backslash, ?, # or %';
  if (href.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(href)) return 'is absolute';
  if (href.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) return 'has an empty, . or .. segment';
  return undefined;
}

function readField(
  name: string,
  text: string,
  checksumType: string | undefined,
  entry: EntryDraft,
  fail: (detail: string) => never,
): void {
  const where = `<data type="${entry.type}"> <${name}>`;
  const ok = <T>(parsed: T | string): T => (typeof parsed === 'string' ? fail(`${where}: ${parsed}`) : parsed);
  const once = (current: unknown): void => {
    if (current !== undefined) fail(`${where} given twice`);
  };
  // Other children (database_version, header-checksum, …) are not needed for a mirror.
  switch (name) {
    case 'checksum':
      once(entry.checksum);
      entry.checksum = ok(parseChecksum(checksumType, text));
      break;
    case 'open-checksum':
      once(entry.openChecksum);
      entry.openChecksum = ok(parseChecksum(checksumType, text));
      break;
    case 'size':
      once(entry.size);
      entry.size = ok(parseCount(text, name));
      break;
    case 'open-size':
      once(entry.openSize);
      entry.openSize = ok(parseCount(text, name));
      break;
    case 'timestamp':
      once(entry.timestamp);
      entry.timestamp = ok(parseTimestamp(text));
      break;
  }
}

function parseTimestamp(text: string): number | string {
  const value = Number(text.trim());
  return text.trim() !== '' && Number.isFinite(value) && value >= 0 ? value : `${JSON.stringify(text.trim())} is not a time`;
}

function finishEntry(entry: EntryDraft, entries: ReadonlyMap<string, RepomdEntry>, fail: (detail: string) => never): RepomdEntry {
  if (entries.has(entry.type)) fail(`<data type="${entry.type}"> given twice`);
  if (entry.href === undefined) fail(`<data type="${entry.type}"> has no <location href>`);
  if (entry.checksum === undefined) fail(`<data type="${entry.type}"> has no <checksum>`);
  const { type, href, checksum, ...optional } = entry;
  return { type, href: href as string, checksum: checksum as Checksum, ...optional };
}

// Where a package from primary.xml is fetched from and what it is called locally. The href and xml:base come from
// the (untrusted) mirror: dnf's CVE-2018-10897 wrote `../` hrefs outside the repo, so nothing from them becomes a
// path other than a checked plain basename.
import type { PackageRecord } from './primary.js';

/**
 * Why a location is refused:
 * - `bad_chars`: control characters, NUL, space, backslash, or `%`, `?`, `#` (which would change the URL: `%2e%2e`
 *   is `..` to a URL parser, `?`/`#` would fetch another path than the name says);
 * - `absolute`: starts with `/` or a scheme (`http:`, `file:`);
 * - `dot_dot`: has a `..` segment;
 * - `hidden`: a segment starts with `.` (also `.`, and dot-files that createrepo_c would index);
 * - `not_rpm`: the basename does not end in `.rpm`;
 * - `cross_origin_base`: xml:base names another scheme, host or port than the repo (dnf would fetch it; we do not),
 *   or the repo has no URL to compare with;
 * - `nested`: not returned: subdirectories in an href are normal (the local name is the basename). It stays in the
 *   union for callers that list every reason.
 */
export type LocationProblem = 'absolute' | 'dot_dot' | 'not_rpm' | 'hidden' | 'cross_origin_base' | 'bad_chars';

export type PackageLocation =
  | { readonly ok: true; readonly fileName: string; readonly url?: URL }
  | { readonly ok: false; readonly problem: LocationProblem; readonly detail: string };

const BAD_CHARS = /[\x00-\x20\x7f\\%?#]/;
const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/**
 * The local file name of a package (a plain basename ending in `.rpm`, safe to join to `Packages/`) and, when the
 * repo has a URL, its download URL: href resolved against xml:base (same origin only) or the repo URL, each taken
 * as a directory as librepo does.
 *
 * Two records may map to one file name (`a/foo.rpm` and `b/foo.rpm`, or a re-signed package): the caller must keep
 * the checksum per file name and treat a second record with the same name and another checksum as a conflict, not
 * download it over the first.
 */
export function packageFileName(record: Pick<PackageRecord, 'href' | 'base'>, repoUrl: URL | undefined): PackageLocation {
  const { href, base } = record;
  const refuse = (problem: LocationProblem, why: string): PackageLocation => ({
    ok: false,
    problem,
    detail: `location ${JSON.stringify(href)}${base === undefined ? '' : ` (xml:base ${JSON.stringify(base)})`} ${why}`,
  });

  if (BAD_CHARS.test(href)) return refuse('bad_chars', 'holds a control character, space, backslash, %, ? or #');
  if (href.startsWith('/') || SCHEME.test(href)) return refuse('absolute', 'is absolute');
  const segments = href.split('/');
  if (segments.includes('..')) return refuse('dot_dot', 'has a .. segment');
  if (segments.some((segment) => segment.startsWith('.'))) return refuse('hidden', 'has a segment that starts with a dot');
  const fileName = segments.at(-1) ?? '';
  if (!fileName.endsWith('.rpm')) return refuse('not_rpm', 'does not name an .rpm file');

  let directory = repoUrl && asDirectory(repoUrl);
  if (base !== undefined) {
    if (directory === undefined) return refuse('cross_origin_base', 'has an xml:base but the repo has no URL');
    const baseUrl = URL.parse(base, directory.href);
    if (baseUrl === null || !sameOrigin(baseUrl, directory)) return refuse('cross_origin_base', `is on another server than ${directory.href}`);
    directory = asDirectory(baseUrl);
  }
  return directory === undefined ? { ok: true, fileName } : { ok: true, fileName, url: new URL(href, directory) };
}

function sameOrigin(a: URL, b: URL): boolean {
  // URL.origin is "null" for file: and other non-special schemes, so compare the parts.
  return a.protocol === b.protocol && a.hostname === b.hostname && a.port === b.port;
}

/** `http://h/repo` and `http://h/repo/` both mean the directory: without the slash, resolving drops `repo`. */
function asDirectory(url: URL): URL {
  const directory = new URL(url.href);
  directory.search = '';
  directory.hash = '';
  if (!directory.pathname.endsWith('/')) directory.pathname += '/';
  return directory;
}

import { canonicalArch } from './arch.js';

/** One release of one distribution on one arch: the unit a repo is synced for (`RepoDir/<dist>-<ver>-<arch>`). */
export interface ReleaseId {
  readonly distribution: string;
  readonly version: string;
  readonly arch: string;
}

// Upstream's worker lists supported releases with ^[^\-]+\-[^\-]+\-[^\-]+$.
const RELEASE_ID_RE = /^(?<distribution>[^-/\s]+)-(?<version>[^-/\s]+)-(?<arch>[^-/\s]+)$/;

/** Parses `fedora-40-x86_64`; undefined when the text is not three dash-free parts. The arch is canonicalised. */
export function parseReleaseId(text: string): ReleaseId | undefined {
  const groups = RELEASE_ID_RE.exec(text)?.groups;
  if (!groups) return undefined;
  return { distribution: groups.distribution ?? '', version: groups.version ?? '', arch: canonicalArch(groups.arch ?? '') };
}

export function releaseName(release: ReleaseId): string {
  return `${release.distribution}-${release.version}-${release.arch}`;
}

/** `$VER` and `$ARCH` in a mirror URL or repo config, replaced as upstream does (plain string replace). */
export function expandTemplate(text: string, release: Pick<ReleaseId, 'version' | 'arch'>): string {
  return text.replaceAll('$VER', release.version).replaceAll('$ARCH', release.arch);
}

/** Replaces `{release}` in a plugin's gpg_keys paths. */
export function resolveGpgKeyPaths(templates: readonly string[], release: string): string[] {
  return templates.map((template) => template.replaceAll('{release}', release));
}

export interface DetectedRelease {
  readonly distribution: string;
  readonly version: string;
}

interface ReleaseParsers {
  readonly distribution: string;
  readonly abrtparser: RegExp | undefined;
  readonly guessparser: RegExp | undefined;
}

/**
 * The release an os_release text names: the first plugin whose abrtparser matches at the start of
 * the text (Python's re.match) wins; group 1 is the version, and a rawhide release is version `rawhide`.
 */
export function releaseFromOsRelease(plugins: readonly ReleaseParsers[], osRelease: string): DetectedRelease | undefined {
  // Python's `$` also matches before a final newline; JS's does not.
  const text = osRelease.replace(/\r?\n$/, '');
  for (const plugin of plugins) {
    if (!plugin.abrtparser) continue;
    const anchored = new RegExp(plugin.abrtparser.source, plugin.abrtparser.flags.replace('g', '') + 'y');
    const match = anchored.exec(text);
    if (!match) continue;
    const version = text.toLowerCase().includes('rawhide') ? 'rawhide' : match[1];
    if (version === undefined) continue;
    return { distribution: plugin.distribution, version };
  }
  return undefined;
}

export interface GuessedRelease extends DetectedRelease {
  /** Every plugin whose guessparser matched, in load order; more than one means the guess is ambiguous. */
  readonly candidates: readonly string[];
}

/** The release guessed from a package NVR (re.search on each guessparser); the first match in load order wins. */
export function releaseFromPackage(plugins: readonly ReleaseParsers[], nvr: string): GuessedRelease | undefined {
  const matches = plugins.flatMap((plugin) => {
    const version = plugin.guessparser ? new RegExp(plugin.guessparser.source, plugin.guessparser.flags.replace('g', '')).exec(nvr)?.[1] : undefined;
    return version === undefined ? [] : [{ distribution: plugin.distribution, version }];
  });
  const first = matches[0];
  return first && { ...first, candidates: matches.map((m) => m.distribution) };
}

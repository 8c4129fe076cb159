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

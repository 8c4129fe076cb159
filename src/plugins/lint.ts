// Static checks of a loaded plugin beyond what loading enforces: things that load fine but
// cannot work when a repo is synced.

import { isAbsolute } from 'node:path';
import type { DistributionPlugin } from './types.js';

const MIRROR_SCHEMES = /^(?:rsync|https?|ftp):\/\/[^/\s]+/;

/** Problems that make part of the plugin unusable, each naming the repo and mirror. */
export function lintPlugin(plugin: DistributionPlugin): string[] {
  const problems: string[] = [];
  plugin.repos.forEach((repo, index) => {
    if (repo.mirrors.length === 0) problems.push(`repo ${index + 1} has no mirrors`);
    for (const mirror of repo.mirrors) {
      if (!MIRROR_SCHEMES.test(mirror) && !isAbsolute(mirror)) {
        problems.push(`repo ${index + 1}: mirror '${mirror}' is neither an absolute path nor an rsync://, http(s):// or ftp:// URL`);
      }
    }
  });
  for (const key of plugin.gpgKeys) {
    if (!isAbsolute(key)) problems.push(`gpg_keys: '${key}' is not an absolute path`);
  }
  return problems;
}

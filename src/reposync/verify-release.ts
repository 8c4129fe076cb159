// `retrace-server-reposync --verify-only`: re-checks every package already in a release's
// Packages/ the way a sync checks new ones (signature and payload digest against GpgDir plus the
// plugin's keys), like `rpm -K` over the whole repo. Nothing is moved or deleted.

import { join } from 'node:path';
import type { RetraceServerConfig } from '../config/config.js';
import type { Logger } from '../log.js';
import type { DistributionPlugin } from '../plugins/types.js';
import type { ReleaseId } from '../plugins/release.js';
import { forEachLimited } from '../each-limited.js';
import { listRpmFiles, releaseLayout } from './layout.js';
import { packageVerifier } from './sync-release.js';
import type { PackageVerdict } from './types.js';

// Verification is CPU-bound with a little I/O: a few in flight keep one core busy.
const VERIFY_CONCURRENCY = 4;

export interface PackageCheck {
  readonly file: string;
  readonly verdict: PackageVerdict;
}

/** Every Packages/*.rpm of the release with its verdict, in file-name order. */
export async function verifyRelease(config: RetraceServerConfig, plugin: DistributionPlugin, release: ReleaseId, log: Logger): Promise<PackageCheck[]> {
  const { packagesDir } = releaseLayout(config.retrace.repoDir, release);
  const files = (await listRpmFiles(packagesDir)).sort();
  const verify = packageVerifier(config, plugin, release, log).file;
  const verdicts = new Map<string, PackageVerdict>();
  await forEachLimited(files, VERIFY_CONCURRENCY, async (file) => {
    verdicts.set(file, await verify(join(packagesDir, file)));
  });
  return files.map((file) => ({ file, verdict: verdicts.get(file) as PackageVerdict }));
}

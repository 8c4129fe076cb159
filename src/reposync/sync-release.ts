// One sync of one release (SPEC §7, research §6): lock, layout, each repo from the first mirror that serves it,
// the rawhide rule, createrepo_c, and a record of the run. Shared by the CLI and the agent's schedule; exit codes
// are upstream's plus 5 for "a repo had no working mirror", which upstream only logged.

import type { RetraceServerConfig } from '../config/config.js';
import type { Keyring } from '../gpg/keyring.js';
import type { Logger } from '../log.js';
import { expandTemplate, releaseName, resolveGpgKeyPaths, type ReleaseId } from '../plugins/release.js';
import type { DistributionPlugin, RepoSpec } from '../plugins/types.js';
import { verifyRpm } from '../rpm/verify.js';
import { runCreaterepo } from './createrepo.js';
import { createLayout, measurePackages, moveStrayPackages, releaseLayout, repodataStale, type ReleaseLayout } from './layout.js';
import { acquireReleaseLock, LockBusyError, LockFailedError, type ReleaseLock } from './lock.js';
import { syncFromMirror } from './mirror-sync.js';
import { isRawhide, pruneRawhide } from './rawhide.js';
import { parseRepoOptions } from './repo-options.js';
import { readSyncState, writeSyncState, type SyncRunRecord } from './sync-state.js';
import { ReposyncExit, type SyncOutcome } from './outcome.js';
import { packageVerdict } from './package-verdict.js';
import type { KeyringSource, MirrorSyncContext, PackageKeys, PackageVerdict, RejectReason, SyncProgress } from './types.js';

export interface SyncReleaseOptions {
  readonly config: RetraceServerConfig;
  readonly plugins: readonly DistributionPlugin[];
  /** Arch already canonical (parseReleaseId and the CLI see to it). */
  readonly release: ReleaseId;
  readonly log: Logger;
  /** Stops the run between and inside mirror transfers; nothing partial is left in Packages/. */
  readonly signal?: AbortSignal;
  readonly progress?: SyncProgress;
}


export async function syncRelease(options: SyncReleaseOptions): Promise<SyncOutcome> {
  const { config, plugins, release, log } = options;
  const plugin = plugins.find((p) => p.distribution === release.distribution);
  if (!plugin) return { exitCode: ReposyncExit.UNKNOWN_DISTRIBUTION, message: `Unknown distribution: '${release.distribution}'`, aborted: false };

  let lock: ReleaseLock;
  try {
    lock = await acquireReleaseLock(config.agent.lockDir, release, log);
  } catch (err) {
    if (err instanceof LockBusyError) return { exitCode: ReposyncExit.LOCKED, message: err.message, aborted: false };
    if (err instanceof LockFailedError) return { exitCode: ReposyncExit.LOCK_FAILED, message: err.message, aborted: false };
    throw err;
  }
  try {
    return await syncLocked(options, plugin);
  } finally {
    lock.release();
  }
}

interface Totals {
  admitted: number;
  bytes: number;
  readonly rejected: Partial<Record<RejectReason, number>>;
  readonly failedRepos: string[];
}

async function syncLocked(options: SyncReleaseOptions, plugin: DistributionPlugin): Promise<SyncOutcome> {
  const { config, release, log } = options;
  const signal = options.signal ?? new AbortController().signal;
  const started = Date.now();
  const layout = releaseLayout(config.retrace.repoDir, release);
  await createLayout(layout);
  const previous = await readSyncState(layout.stateDir);

  const strays = await moveStrayPackages(layout);
  for (const name of strays.moved) log.info(`Moved ${name} into Packages/`);
  for (const name of strays.clashes) log.warn(`${name} is in ${layout.targetDir} and Packages/ already has a package of that name: left where it is`);

  const totals: Totals = { admitted: 0, bytes: 0, rejected: {}, failedRepos: [] };
  const verify = packageVerifier(config, plugin, release, log);
  for (const [index, repo] of plugin.repos.entries()) {
    if (signal.aborted) break;
    const mirrors = repo.mirrors.map((mirror) => expandTemplate(mirror, release));
    log.info(`[${index + 1} / ${plugin.repos.length}] Repo: ${mirrors.join(' ')}`);
    const served = await syncRepo({ ...options, signal }, plugin, repo, mirrors, layout, verify, totals);
    if (!served && !signal.aborted) {
      log.error('Download failed, no more mirrors to try');
      totals.failedRepos.push(mirrors[0] ?? `repo ${index + 1} (no mirrors)`);
    }
  }

  let createrepoFailed = false;
  if (!signal.aborted) {
    if (isRawhide(release.version)) await pruneRawhide(layout.packagesDir, config.retrace.keepRawhideLatest, log);
    // Unchanged packages mean unchanged metadata: skipping createrepo_c is most of a no-op run's saving.
    if (await repodataStale(layout)) {
      log.info(`Creating repository metadata in ${layout.targetDir}`);
      const result = await runCreaterepo({ targetDir: layout.targetDir, update: config.retrace.useCreaterepoUpdate, log, signal });
      if (!result.ok) {
        createrepoFailed = true;
        log.error(`Failed: ${result.detail}`);
      }
    } else {
      log.debug('Packages/ unchanged since the last createrepo_c run: repodata kept');
    }
  }

  const exitCode = createrepoFailed ? ReposyncExit.CREATEREPO_FAILED
    : totals.failedRepos.length > 0 ? ReposyncExit.NO_WORKING_MIRROR
    : ReposyncExit.OK;
  const fullySucceeded = exitCode === ReposyncExit.OK && !signal.aborted;
  const record: SyncRunRecord = {
    attempt: started / 1000,
    success: fullySucceeded ? started / 1000 : previous?.success,
    durationSeconds: (Date.now() - started) / 1000,
    exitCode,
    ...totals,
    contents: await measurePackages(layout.packagesDir, previous?.contents),
  };
  await writeSyncState(layout.stateDir, record);

  const message = signal.aborted ? `Repository synchronization of ${releaseName(release)} stopped`
    : exitCode === ReposyncExit.CREATEREPO_FAILED ? `Failed to create the repository metadata of ${releaseName(release)}`
    : exitCode === ReposyncExit.NO_WORKING_MIRROR ? `Repository synchronization finished, but ${totals.failedRepos.length} of ${plugin.repos.length} repos had no working mirror`
    : 'Repository synchronization finished successfully';
  return { exitCode, message, aborted: signal.aborted, record };
}

/** Tries the repo's mirrors in order; true when one served it. */
async function syncRepo(
  options: SyncReleaseOptions & { signal: AbortSignal },
  plugin: DistributionPlugin,
  repo: RepoSpec,
  mirrors: readonly string[],
  layout: ReleaseLayout,
  verify: PackageVerifier,
  totals: Totals,
): Promise<boolean> {
  const { config, release, log, signal, progress } = options;
  let repoOptions;
  try {
    const snippets = [plugin.dnfcfg, repo.localConfig].map((text) => text && expandTemplate(text, release));
    const parsed = parseRepoOptions(snippets, { gpgcheck: config.retrace.requireGpgCheck }, plugin.file);
    if (parsed.ignored.length > 0) log.debug(`repo options ignored: ${parsed.ignored.join(', ')}`);
    repoOptions = parsed.options;
  } catch (err) {
    log.error(`Download failed: the repo's configuration is unusable: ${(err as Error).message}`);
    return false;
  }
  const accept = async (): Promise<PackageVerdict> => ({ ok: true, detail: 'gpgcheck is off for this repo' });

  for (const [index, mirror] of mirrors.entries()) {
    if (signal.aborted) return false;
    progress?.repo(plugin.repos.indexOf(repo) + 1, plugin.repos.length, mirror);
    const context: MirrorSyncContext = {
      release,
      packagesDir: layout.packagesDir,
      stagingDir: layout.stagingDir,
      quarantineDir: layout.quarantineDir,
      stateDir: layout.stateDir,
      options: repoOptions,
      ...(isRawhide(release.version) ? { keepNewestVersions: config.retrace.keepRawhideLatest } : {}),
      verifyPackage: repoOptions.gpgcheck ? verify.file : accept,
      ...(repoOptions.gpgcheck ? { verifyKeys: verify.keys } : {}),
      log,
      signal,
      ...(progress === undefined ? {} : { progress }),
    };
    const result = await syncFromMirror(mirror, context).catch((err: unknown) => ({
      ok: false, detail: (err as Error).message, admitted: 0, bytes: 0, rejected: [], unchanged: false,
    }));
    totals.admitted += result.admitted;
    totals.bytes += result.bytes;
    for (const { reason } of result.rejected) totals.rejected[reason] = (totals.rejected[reason] ?? 0) + 1;
    if (result.ok) {
      const refused = result.rejected.length > 0 ? `, ${result.rejected.length} refused (see ${layout.quarantineDir})` : '';
      log.info(`${mirror}: ${result.unchanged ? 'metadata unchanged' : `${result.admitted} new packages, ${result.bytes} bytes`}${refused}`);
      return true;
    }
    log.warn(`Download failed: ${result.detail}`);
    if (index + 1 < mirrors.length && !signal.aborted) log.info('Trying another mirror');
  }
  return false;
}

/** Checks signatures against GpgDir plus the plugin's keys for this release; the keys load on first use, once. */
export function packageVerifier(config: RetraceServerConfig, plugin: DistributionPlugin, release: ReleaseId, log: Logger): PackageVerifier {
  const keys: KeyringSource = { gpgDir: config.agent.gpgDir, extraKeyFiles: resolveGpgKeyPaths(plugin.gpgKeys, release.version) };
  let keyring: Promise<Keyring> | undefined;
  // OpenPGP.js is loaded with the first package to check: a sync that finds nothing new never needs it.
  const load = async (): Promise<Keyring> => {
    const { loadKeyring } = await import('../gpg/keyring.js');
    const loaded = await loadKeyring(keys);
    for (const problem of loaded.problems) log.warn(`key not trusted: ${problem.file}: ${problem.detail}`);
    log.info(`${loaded.keys.length} trusted keys for ${releaseName(release)}`);
    return loaded;
  };
  return {
    keys: {
      source: keys,
      signingKeys: async () => {
        const [{ signingKeysOf }, loaded] = await Promise.all([import('../rpm/prepare-signing-keys.js'), (keyring ??= load())]);
        return signingKeysOf(loaded);
      },
    },
    file: async (path) => {
      const trusted = await (keyring ??= load());
      return packageVerdict(() => verifyRpm(path, trusted));
    },
  };
}

export interface PackageVerifier {
  /** The keys `file` checks against (the context's verifyKeys). */
  readonly keys: PackageKeys;
  readonly file: (path: string) => Promise<PackageVerdict>;
}

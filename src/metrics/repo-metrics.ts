// Metrics of the scheduled repository syncs (SPEC §7.4, §9), one `repo` label per SyncReleases entry. Values change
// when a sync ends and are loaded from each release's last-run record at start, so the last successful sync (what
// the stale-repo alert watches) survives restarts and counts runs of the CLI too. Nothing is computed per scrape:
// counting a large Packages/ takes longer than a scrape should.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { releaseName, type ReleaseId } from '../plugins/release.js';
import { measurePackages, type ReleaseLayout } from '../reposync/layout.js';
import type { SyncSchedule } from '../reposync/schedule.js';
import { ReposyncExit, type SyncOutcome } from '../reposync/outcome.js';
import { readSyncState, type SyncRunRecord } from '../reposync/sync-state.js';
import type { RejectReason } from '../reposync/types.js';
import { METRIC_PREFIX } from './registry.js';

const REJECT_REASONS: readonly RejectReason[] = [
  'bad_location', 'size_mismatch', 'checksum_mismatch', 'download_failed', 'unsigned', 'unknown_key', 'bad_signature',
  'payload_digest_mismatch', 'corrupt', 'unsupported_algorithm', 'excluded',
];

export interface RepoMetrics {
  /** Sets the gauges from the releases' last-run records and Packages/ dirs; the agent awaits it at start. */
  load(): Promise<void>;
}

export function registerRepoMetrics(
  registry: Registry,
  schedule: SyncSchedule,
  layoutOf: (release: ReleaseId) => ReleaseLayout,
  log: Logger,
): RepoMetrics {
  const gauge = (name: string, help: string): Gauge => new Gauge({ name: `${METRIC_PREFIX}${name}`, help, labelNames: ['repo'], registers: [registry] });
  const lastSuccess = gauge('repo_last_sync_success_timestamp_seconds', 'When the last fully successful sync of the repo started (exit code 0).');
  const lastAttempt = gauge('repo_last_sync_attempt_timestamp_seconds', 'When the last sync of the repo started, whatever its outcome.');
  const packages = gauge('repo_packages', 'Packages in the repo (Packages/*.rpm), counted after each sync.');
  const bytes = gauge('repo_bytes', 'Total size of the packages in the repo, counted after each sync.');
  const duration = new Histogram({
    name: `${METRIC_PREFIX}repo_sync_duration_seconds`,
    help: 'Duration of the syncs of the repo.',
    labelNames: ['repo'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers: [registry],
  });
  const downloaded = new Counter({
    name: `${METRIC_PREFIX}repo_packages_downloaded_total`,
    help: 'Packages verified and admitted into the repo.',
    labelNames: ['repo'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: `${METRIC_PREFIX}repo_packages_rejected_total`,
    help: 'Packages refused (quarantined or not downloaded), by reason.',
    labelNames: ['repo', 'reason'],
    registers: [registry],
  });
  const failures = new Counter({
    name: `${METRIC_PREFIX}repo_sync_failures_total`,
    help: 'Syncs of the repo that did not fully succeed (no working mirror for a repo, createrepo failed, error).',
    labelNames: ['repo'],
    registers: [registry],
  });

  for (const release of schedule.releases) {
    const repo = releaseName(release);
    downloaded.inc({ repo }, 0);
    failures.inc({ repo }, 0);
    duration.zero({ repo });
    for (const reason of REJECT_REASONS) rejected.inc({ repo, reason }, 0);
  }

  const setFromRecord = (repo: string, record: SyncRunRecord): void => {
    lastAttempt.set({ repo }, record.attempt);
    if (record.success !== undefined) lastSuccess.set({ repo }, record.success);
    if (record.contents) {
      packages.set({ repo }, record.contents.packages);
      bytes.set({ repo }, record.contents.bytes);
    }
  };

  schedule.on('synced', (release, outcome: SyncOutcome) => {
    const repo = releaseName(release);
    // Another process (the CLI, cron) holds the lock: it is that run's record that counts, read at the next start.
    if (outcome.exitCode === ReposyncExit.LOCKED) return;
    if (outcome.exitCode !== ReposyncExit.OK && !outcome.aborted) failures.inc({ repo });
    const { record } = outcome;
    if (!record) {
      lastAttempt.set({ repo }, Date.now() / 1000);
      return;
    }
    setFromRecord(repo, record);
    duration.observe({ repo }, record.durationSeconds);
    downloaded.inc({ repo }, record.admitted);
    for (const [reason, count] of Object.entries(record.rejected)) rejected.inc({ repo, reason }, count);
  });

  return {
    async load() {
      for (const release of schedule.releases) {
        const repo = releaseName(release);
        const layout = layoutOf(release);
        try {
          const record = await readSyncState(layout.stateDir);
          if (record) setFromRecord(repo, record);
          const contents = await measurePackages(layout.packagesDir, record?.contents);
          packages.set({ repo }, contents.packages);
          bytes.set({ repo }, contents.bytes);
        } catch (err) {
          log.warn({ err, repo }, `cannot read the state of ${repo}: ${(err as Error).message}`);
        }
      }
    },
  };
}

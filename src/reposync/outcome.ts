// How a sync of one release ended: upstream's exit codes plus ours, and what the run did. Kept apart from the
// sync itself, which the agent loads only when a sync runs.
import type { SyncRunRecord } from './sync-state.js';

export const ReposyncExit = {
  OK: 0,
  UNKNOWN_DISTRIBUTION: 1,
  /** Upstream exits 1 on any uncaught exception too. */
  ERROR: 1,
  LOCKED: 2,
  LOCK_FAILED: 3,
  CREATEREPO_FAILED: 4,
  NO_WORKING_MIRROR: 5,
  PRIVILEGES: 6,
  /** --verify-only found packages that do not verify (new). */
  VERIFY_FAILED: 7,
} as const;
export type ReposyncExitCode = (typeof ReposyncExit)[keyof typeof ReposyncExit];

export interface SyncOutcome {
  readonly exitCode: ReposyncExitCode;
  readonly message: string;
  /** The run was stopped by the signal; its exit code says how far it got. */
  readonly aborted: boolean;
  /** What the run did; absent when it never got the lock. */
  readonly record?: SyncRunRecord;
}

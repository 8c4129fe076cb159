// What every reaper effect needs, and the one result type they all return. Effects return an
// outcome for anything the host can cause (a live worker, an open file, a mount, an I/O error),
// so the scheduler can retry later; they throw only for caller bugs such as a malformed task id.

import type { Logger } from '../../log.js';

export interface ReapContext {
  readonly saveDir: string;
  readonly dropDir: string;
  readonly logDir: string;
  readonly mockRootDir: string;
  readonly mockCacheDir: string;
  readonly workerCommand: string;
  readonly killGraceMs: number;
  readonly log: Logger;
  /** The clock for dated lines, finished_time and archive names. */
  readonly now?: () => Date;
  /** Where processes are listed (tests); signals always go to real pids. */
  readonly procRoot?: string;
}

export type FailureReason = 'worker_alive' | 'crash_file_open' | 'mounted' | 'io_error' | 'tar_failed';

export type EffectOutcome =
  | { readonly ok: true; readonly detail: string; readonly chrootsRemoved?: number }
  | { readonly ok: false; readonly retryAfterMs: number; readonly reason: FailureReason; readonly detail: string };

// A live worker is usually being killed right now; the others wait for a person or a process
// to let go, so retrying often only costs /proc scans. Upstream retried everything hourly.
const RETRY_AFTER_MS: Readonly<Record<FailureReason, number>> = {
  worker_alive: 60_000,
  crash_file_open: 300_000,
  mounted: 300_000,
  io_error: 300_000,
  tar_failed: 3_600_000,
};

export function succeeded(detail: string, chrootsRemoved?: number): EffectOutcome {
  return chrootsRemoved === undefined ? { ok: true, detail } : { ok: true, detail, chrootsRemoved };
}

export function failed(reason: FailureReason, detail: string): EffectOutcome {
  return { ok: false, retryAfterMs: RETRY_AFTER_MS[reason], reason, detail };
}

const TASK_ID_RE = /^[0-9]+$/;

/** Every path an effect touches is built from the id, so anything but digits is refused. */
export function assertTaskId(taskId: string): void {
  if (!TASK_ID_RE.test(taskId)) throw new Error(`invalid task id ${JSON.stringify(taskId)}`);
}

export function nowOf(ctx: ReapContext): Date {
  return ctx.now?.() ?? new Date();
}

/** Two digits, zero-padded, as strftime's %H, %M, %S. */
export const pad2 = (n: number): string => String(n).padStart(2, '0');

/** `%Y-%m-%d %H:%M:%S` in local time, as upstream's time.strftime and logging write it. */
export function localTimestamp(date: Date): string {
  return `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
}

/** `%Y%m%d%H%M%S` in local time: upstream's archive name suffix. */
export function compactTimestamp(date: Date): string {
  return localTimestamp(date).replace(/[- :]/g, '');
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

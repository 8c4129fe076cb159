// What the last sync of a release did, kept on disk next to the repo so that the agent's "last successful sync"
// (what the stale-repo alert watches) survives restarts, and so the CLI's runs count too (SPEC §7.4).

import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PackagesSize } from './layout.js';
import type { RejectReason } from './types.js';

export interface SyncRunRecord {
  /** Epoch seconds when the last run started. */
  readonly attempt: number;
  /** Epoch seconds when the last fully successful run (exit 0) started; kept from earlier runs when this one failed. */
  readonly success: number | undefined;
  readonly durationSeconds: number;
  readonly exitCode: number;
  /** Packages admitted into Packages/ by the last run, and their bytes. */
  readonly admitted: number;
  readonly bytes: number;
  readonly rejected: Partial<Record<RejectReason, number>>;
  /** Repos (their first mirror) that had no working mirror. */
  readonly failedRepos: readonly string[];
  /** Packages/ after the run. */
  readonly contents: PackagesSize;
}

const FILE = 'last-run.json';

export async function readSyncState(stateDir: string): Promise<SyncRunRecord | undefined> {
  let text: string;
  try {
    text = await readFile(join(stateDir, FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const record = JSON.parse(text) as SyncRunRecord;
    return typeof record.attempt === 'number' ? record : undefined;
  } catch {
    // A garbled file (disk full, edited by hand) only loses history; the next run rewrites it.
    return undefined;
  }
}

export async function writeSyncState(stateDir: string, record: SyncRunRecord): Promise<void> {
  const file = join(stateDir, FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

// What the entries of SaveDir are (SPEC §5): task dirs, the vmcore tasks' `<id>-kernel` mock
// config dirs, and everything else (stats.db, *.tmp, stray files), which the agent leaves alone.

import { readdir } from 'node:fs/promises';

export type SpoolEntry =
  | { readonly kind: 'task'; readonly id: string }
  | { readonly kind: 'kernel-config'; readonly id: string }
  | { readonly kind: 'ignored' };

// Any length, like upstream's archive/delete scans; TaskIdLength is a filter of some other scans.
const TASK_RE = /^[0-9]+$/;
const KERNEL_CONFIG_RE = /^([0-9]+)-kernel$/;
const IGNORED: SpoolEntry = { kind: 'ignored' };

/** Classifies by name only; `listSpool` also requires a real directory. */
export function classifySpoolEntry(name: string): SpoolEntry {
  if (TASK_RE.test(name)) return { kind: 'task', id: name };
  const kernel = KERNEL_CONFIG_RE.exec(name);
  return kernel?.[1] ? { kind: 'kernel-config', id: kernel[1] } : IGNORED;
}

export interface SpoolListing {
  /** Ids of task dirs. */
  readonly tasks: string[];
  /** Task ids `<id>` that have a `<id>-kernel` dir (the parent task may be gone). */
  readonly kernelConfigs: string[];
}

export async function listSpool(saveDir: string): Promise<SpoolListing> {
  const tasks: string[] = [];
  const kernelConfigs: string[] = [];
  // Dirent types come from lstat semantics: a symlink named like a task is not a directory here.
  for (const entry of await readdir(saveDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const classified = classifySpoolEntry(entry.name);
    if (classified.kind === 'task') tasks.push(classified.id);
    else if (classified.kind === 'kernel-config') kernelConfigs.push(classified.id);
  }
  return { tasks, kernelConfigs };
}

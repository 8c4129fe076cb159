// Local mirrors: a directory (its *.rpm files, not recursively, as upstream copies them) or a glob such as
// /srv/x/Packages/*/*.rpm. New files are copied into staging, verified there and linked in like any download.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { copyFile, glob, mkdir, readdir, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { MirrorSyncContext, MirrorSyncResult } from '../types.js';
import { Admission } from './admit.js';
import { sha256Checksum } from './checksum-cache.js';

const GLOB_CHARS = /[*?[]/;

export async function syncLocal(mirror: string, ctx: MirrorSyncContext): Promise<MirrorSyncResult> {
  const admission = await Admission.start(ctx, mirror);
  const staging = path.join(ctx.stagingDir, `local-${createHash('sha256').update(mirror).digest('hex').slice(0, 16)}`);
  try {
    const files = await listPackages(mirror);
    if (typeof files === 'string') return admission.result(false, files);
    await mkdir(staging, { recursive: true });
    for (const file of files) {
      ctx.signal.throwIfAborted();
      const source = statSync(file);
      const name = path.basename(file);
      if ((await admission.presence(name, source.size, undefined, file)) === 'same') continue;
      if (await admission.recheck(name, () => sha256Checksum(file))) continue;
      ctx.progress?.planned(1, source.size);
      const staged = path.join(staging, name);
      await copyFile(file, staged);
      // The source's mtime, so the next run's quick check (size + mtime) recognises the admitted copy.
      await utimes(staged, source.atime, source.mtime);
      await admission.admit(staged, name, undefined);
    }
    return admission.result(true, `${files.length} packages found, ${admission.admitted} admitted, ${admission.rejected.length} refused`);
  } finally {
    await admission.finish();
  }
}

/** The package files a local mirror names, or why there are none. */
async function listPackages(mirror: string): Promise<string[] | string> {
  if (GLOB_CHARS.test(mirror)) {
    const files: string[] = [];
    for await (const match of glob(mirror, { withFileTypes: true })) {
      if (match.isFile() && match.name.endsWith('.rpm')) files.push(path.join(match.parentPath, match.name));
    }
    return files.length > 0 ? files.sort() : `no package matches ${mirror}`;
  }
  try {
    const entries = await readdir(mirror, { withFileTypes: true });
    return entries.filter((entry) => entry.isFile() && entry.name.endsWith('.rpm')).map((entry) => path.join(mirror, entry.name)).sort();
  } catch (error) {
    return `cannot read ${mirror}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
}

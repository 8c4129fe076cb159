// rsync:// mirrors through the rsync binary into a private staging dir (research reposync-anchors §4): never any
// --delete*, and --compare-dest=Packages/ so only files missing there (or differing in size/mtime) are
// transferred. rsync has no checksums from metadata, so each staged file is checked by verifyPackage only, and one
// whose name is already kept with other contents is quarantined instead of replacing it.
//
// A mirror without a glob means its *.rpm files, not recursively, as a local dir does: the layout in Packages/ is
// flat, so nested remote files could not be matched by --compare-dest and would be fetched on every run. Plugins
// name trees with a remote glob (`…/Packages/*/*.rpm`), which the daemon expands; the matches land flat in staging.
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { MirrorSyncContext, MirrorSyncResult } from '../types.js';
import { Admission } from './admit.js';
import { sha256Checksum } from './checksum-cache.js';

const GLOB_CHARS = /[*?[]/;
const PARTIAL_DIR = '.rsync-partial';
const KILL_GRACE_MS = 1_000;
// rsync exits 30 itself about 2× --timeout after data stops (research §4); the watchdog is the backstop.
const WATCHDOG_FACTOR = 3;

export async function syncRsync(mirror: string, ctx: MirrorSyncContext): Promise<MirrorSyncResult> {
  const admission = await Admission.start(ctx, mirror);
  // Kept between runs: an interrupted file waits in its partial dir to be resumed.
  const staging = path.join(ctx.stagingDir, `rsync-${createHash('sha256').update(mirror).digest('hex').slice(0, 16)}`);
  await mkdir(staging, { recursive: true });
  try {
    const run = await runRsync(mirror, staging, ctx);
    const transferred = await admitStaged(staging, admission, ctx);
    ctx.signal.throwIfAborted();
    const summary = `${transferred} files transferred, ${admission.admitted} admitted, ${admission.rejected.length} refused`;
    return run.ok ? admission.result(true, `${run.detail}; ${summary}`) : admission.result(false, `${run.detail} (${summary})`);
  } finally {
    await admission.finish();
  }
}

async function runRsync(mirror: string, staging: string, ctx: MirrorSyncContext): Promise<{ ok: boolean; detail: string }> {
  const seconds = String(Math.ceil(ctx.options.timeoutSeconds));
  const source = GLOB_CHARS.test(mirror) ? mirror : `${mirror.replace(/\/*$/, '/')}*.rpm`;
  const args = [
    '-rt',
    '--no-links',
    '--no-motd',
    `--contimeout=${seconds}`,
    `--timeout=${seconds}`,
    // Relative, so inside staging and excluded from the transfer; never --inplace/--append.
    `--partial-dir=${PARTIAL_DIR}`,
    `--compare-dest=${path.resolve(ctx.packagesDir)}`,
    '--exclude=repodata/',
    '--include=*/',
    '--include=*.rpm',
    '--exclude=*',
    '--prune-empty-dirs',
    // Progress lines while bytes flow feed the watchdog.
    '--info=progress2',
    source,
    `${staging}/`,
  ];
  const idleMs = Number(seconds) * 1000 * WATCHDOG_FACTOR + 5_000;
  const { execa } = await import('execa');
  const child = execa('rsync', args, {
    reject: false,
    stdin: 'ignore',
    buffer: { stdout: false, stderr: true },
    cancelSignal: ctx.signal,
    forceKillAfterDelay: KILL_GRACE_MS,
  });
  let watchdog = setTimeout(() => child.kill(), idleMs);
  child.stdout?.on('data', () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => child.kill(), idleMs);
  });
  const result = await child.finally(() => clearTimeout(watchdog));
  if (ctx.signal.aborted) return { ok: false, detail: 'aborted' };
  if (result.exitCode === 0) return { ok: true, detail: 'rsync done' };
  // 24: files vanished on the live mirror while it was read; what arrived is whole.
  if (result.exitCode === 24) return { ok: true, detail: 'rsync done; some files vanished on the mirror meanwhile' };
  if (result.exitCode === undefined) return { ok: false, detail: `rsync was stopped (${result.signal ?? result.shortMessage}): no progress for ${idleMs} ms` };
  const message = String(result.stderr)
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '' && !line.startsWith('rsync error:'));
  return { ok: false, detail: `rsync exited ${result.exitCode}${message === undefined ? '' : `: ${message}`}` };
}

/**
 * Every whole *.rpm rsync left in staging (its partial dir holds the unfinished ones), admitted by its basename.
 * Returns how many there were.
 */
async function admitStaged(staging: string, admission: Admission, ctx: MirrorSyncContext): Promise<number> {
  const entries = await readdir(staging, { recursive: true, withFileTypes: true });
  const whole = entries.flatMap((entry) => {
    if (!entry.isFile() || !entry.name.endsWith('.rpm')) return [];
    const relative = path.relative(staging, path.join(entry.parentPath, entry.name));
    return relative.split(path.sep).some((segment) => segment.startsWith('.')) ? [] : [{ relative, name: entry.name }];
  });
  ctx.progress?.planned(whole.length, 0);
  for (const { relative, name } of whole) {
    if (ctx.signal.aborted) break;
    const file = path.join(staging, relative);
    // rsync sent it again (it is not in Packages/): the copy in quarantine may answer for it.
    if (await admission.recheck(name, () => sha256Checksum(file))) {
      await rm(file, { force: true });
      continue;
    }
    await admission.admit(file, name, undefined);
  }
  return whole.length;
}

// Sync from a mirror that publishes repodata (http(s), ftp): repomd.xml → primary → download what is missing.
//
// Decisions:
// - The last repomd.xml of each mirror is kept in the state dir only after a run that left nothing to retry; the
//   next run that gets the same bytes returns `unchanged` without parsing anything (SPEC §13).
// - A package that cannot be downloaded after its retries counts as 'download_failed' and makes the mirror
//   ok: false, so the orchestrator tries the next mirror, which then fetches only what is still missing. Refusals
//   after a whole download (checksum, signature) leave the mirror ok.
// - A name already in Packages/ with other contents is never downloaded again nor replaced; it is reported as
//   'checksum_mismatch' (no file to quarantine, only the reason).
// - Packages left out by includepkgs/exclude are skipped silently, not reported as 'excluded' refusals: a repo
//   narrowed to a few names would otherwise report tens of thousands on every run.
// - Rawhide: a version the rawhide rule would delete after the sync (the primary lists KeepRawhideLatest newer ones
//   of its name and arch) is not fetched, so a mirror that lists old versions does not have them fetched daily.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { decompressStream } from '../decompress.js';
import { packageFileName } from '../package-location.js';
import { parsePrimary } from '../primary.js';
import { NewestVersions } from '../rawhide.js';
import { parseRepomd, RepoMetadataError, type Checksum, type RepomdEntry } from '../repomd.js';
import type { KeyringSource, MirrorSyncContext, MirrorSyncResult, RepoOptions } from '../types.js';
import { Admission } from './admit.js';
import { hashFile } from './checksum-cache.js';
import { RemoteError, type Remote } from './remote.js';
import type { StagedPackage, ThreadDownload } from './stager.js';

interface Wanted {
  readonly name: string;
  readonly url: URL;
  readonly size: number;
  readonly checksum: Checksum;
}

// Metadata is retried fewer times than packages: a dead mirror should hand over to the next one quickly.
const METADATA_ATTEMPTS = 3;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 5_000;
// Packages between their download and their link, beyond the ones downloading.
const ADMISSIONS_IN_FLIGHT = 8;
// Over http(s), packages up to this size are downloaded into memory on a staging thread, then hashed, written to
// staging with one write and verified from those bytes there; larger ones stream to the staging file. Memory held
// at most: this times (max_parallel_downloads + ADMISSIONS_IN_FLIGHT), the packages a thread may have between
// download and staged, plus what each thread keeps free for the next ones (stager-worker.ts).
const HOLD_BYTES = 8 * 1024 * 1024;

/** With `httpOnThreads` the packages are fetched over http(s) on the staging threads, `remote` fetches the metadata. */
export async function syncRepodata(mirror: string, ctx: MirrorSyncContext, remote: Remote, httpOnThreads = false): Promise<MirrorSyncResult> {
  const admission = await Admission.start(ctx, mirror, httpOnThreads);
  const repoUrl = repoRoot(mirror);
  // Per target too, in case several repos share a state dir.
  const mirrorKey = createHash('sha256').update(`${path.resolve(ctx.packagesDir)}\0${mirror}`).digest('hex').slice(0, 16);
  const saved = path.join(ctx.stateDir, 'mirrors', mirrorKey);
  const workDir = path.join(ctx.stagingDir, `repodata-${mirrorKey}`);
  const metadata = <T>(what: string, run: () => Promise<T>): Promise<T> => withRetries(what, METADATA_ATTEMPTS, ctx, run);
  try {
    const repomdUrl = new URL('repodata/repomd.xml', repoUrl);
    const repomdBytes = await metadata(repomdUrl.href, () => remote.fetch(repomdUrl, ctx.signal));
    // The Packages/ dir's identity (inode numbers are reused, birth times are not) is saved with the repomd: a
    // recreated, empty dir must not look synced. So are the key files': packages refused under other keys are
    // checked again.
    const { ino, birthtimeMs } = await stat(ctx.packagesDir);
    const target = `${ino} ${birthtimeMs} ${await keyFilesIdentity(ctx.verifyKeys?.source)}`;
    const [previous, previousTarget] = await Promise.all([readFile(path.join(saved, 'repomd.xml')), readFile(path.join(saved, 'target'), 'utf8')]).catch(() => []);
    if (previousTarget === target && previous?.equals(repomdBytes)) return admission.result(true, 'repomd.xml unchanged since the last complete run', true);

    // Packages will come: the staging threads start (and load their keyring) while the metadata is read.
    admission.warm();
    const primary = parseRepomd(repomdBytes.toString('utf8'), repomdUrl.href).entries.get('primary') as RepomdEntry;
    await mkdir(workDir, { recursive: true });
    const primaryFile = path.join(workDir, path.posix.basename(primary.href));
    const primaryUrl = new URL(primary.href, repoUrl);
    await metadata(primaryUrl.href, async () => {
      await rm(primaryFile, { force: true });
      const got = await remote.download(primaryUrl, primaryFile, ctx.signal, 0, primary.checksum.type);
      const problem = await contentProblem(primaryFile, got, primary.size, primary.checksum);
      if (problem !== undefined) throw new RemoteError(`${primaryUrl.href}: ${problem.message}`, true);
    });

    // Downloads start with the first package the primary lists, while the rest is still parsed.
    const wanted = new WantedQueue();
    const downloads = downloadAll(wanted, ctx, remote, admission);
    const planned = plan(primaryFile, primaryUrl.href, repoUrl, ctx, admission, wanted).finally(() => wanted.close());
    const [failed, { conflicts, listed, older }] = await settleBoth(downloads, planned);
    ctx.signal.throwIfAborted();

    // Anything refused for a reason other than the metadata itself (bad names) or a kept conflicting file may
    // succeed next time, so the run only counts as complete without such refusals.
    const settled = admission.rejected.filter((r) => r.reason === 'bad_location').length + conflicts;
    if (admission.rejected.length === settled) await saveAtomically(saved, { 'repomd.xml': repomdBytes, target });
    if (older > 0) ctx.log.info(`${older} listed packages have ${ctx.keepNewestVersions} newer versions listed: not fetched, as the rawhide rule would remove them`);
    const summary = `${listed} listed, ${wanted.pushed} to fetch, ${admission.admitted} admitted, ${admission.rejected.length} refused`;
    if (failed > 0) return admission.result(false, `${failed} of ${wanted.pushed} packages could not be downloaded (${summary})`);
    return admission.result(true, summary);
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (error instanceof RemoteError || error instanceof RepoMetadataError) return admission.result(false, error.message);
    throw error;
  } finally {
    await admission.finish();
    await rm(workDir, { recursive: true, force: true });
  }
}

/** Names, sizes and mtimes of the key files, hashed; '-' when nothing verifies with keys. */
async function keyFilesIdentity(keys: KeyringSource | undefined): Promise<string> {
  if (keys === undefined) return '-';
  const names = await readdir(keys.gpgDir).then((entries) => entries.map((entry) => path.join(keys.gpgDir, entry)), () => []);
  const files = [...names, ...keys.extraKeyFiles].sort();
  const stats = await Promise.all(files.map(async (file) => {
    const info = await stat(file).catch(() => undefined);
    return `${file}\0${info?.size ?? '-'}\0${info?.mtimeMs ?? '-'}`;
  }));
  return createHash('sha256').update(stats.join('\n')).digest('hex').slice(0, 16);
}

/**
 * The repo root a mirror URL names. Plugins write the same mirror for every transport, often as a glob of the
 * packages (`…/os/Packages/*\/*.rpm`); repodata sits next to `Packages/`.
 */
export function repoRoot(mirror: string): URL {
  let url = mirror.replace(/(\/[^/]*[*?[][^/]*)+\/?$/, '');
  url = url.replace(/\/Packages\/?$/, '');
  return new URL(url.endsWith('/') ? url : `${url}/`);
}

async function plan(
  primaryFile: string,
  source: string,
  repoUrl: URL,
  ctx: MirrorSyncContext,
  admission: Admission,
  wanted: WantedQueue,
): Promise<{ conflicts: number; listed: number; older: number }> {
  const present = new Set(await readdir(ctx.packagesDir));
  const seen = new Map<string, Checksum>();
  const keep = ctx.keepNewestVersions;
  const newest = keep === undefined ? undefined : await newestListed(primaryFile, source, ctx.options, keep);
  let conflicts = 0;
  let older = 0;
  const { count } = await parsePrimary(
    primaryXml(primaryFile),
    async (record): Promise<void> => {
      if (!selected(record.name, record.arch, ctx.options)) return;
      const location = packageFileName(record, repoUrl);
      if (!location.ok) {
        await admission.refuse(path.posix.basename(record.href) || record.href, 'bad_location', location.detail);
        return;
      }
      const { fileName: name, url } = location;
      const earlier = seen.get(name);
      if (earlier !== undefined) {
        if (earlier.value === record.checksum.value) return;
        conflicts++;
        await admission.refuse(name, 'checksum_mismatch', `listed twice with different checksums (${earlier.value}, ${record.checksum.value}); kept the first`);
        return;
      }
      seen.set(name, record.checksum);
      if (newest !== undefined && !present.has(name) && !newest.keeps(record)) {
        older++;
        return;
      }
      const presence = present.has(name) ? await admission.presence(name, record.size, record.checksum) : 'missing';
      if (presence === 'missing') {
        if (await admission.recheck(name, async () => record.checksum)) return;
        wanted.push({ name, url: url as URL, size: record.size, checksum: record.checksum });
        ctx.progress?.planned(1, record.size);
      } else if (presence !== 'same') {
        conflicts++;
        await admission.refuse(name, 'checksum_mismatch', `${presence.differs}; kept it`);
      }
    },
    source,
  );
  return { conflicts, listed: count, older };
}

/** The newest `keep` versions of each (name, arch) the primary lists: a first pass over it, before any download. */
async function newestListed(primaryFile: string, source: string, options: RepoOptions, keep: number): Promise<NewestVersions> {
  const newest = new NewestVersions(keep);
  await parsePrimary(
    primaryXml(primaryFile),
    (record) => {
      if (selected(record.name, record.arch, options)) newest.offer(record);
    },
    source,
  );
  return newest;
}

function primaryXml(primaryFile: string): NodeJS.ReadableStream {
  return decompressStream(createReadStream(primaryFile), path.basename(primaryFile));
}

/** Packages to fetch, handed to the download tasks as the primary is parsed. */
class WantedQueue {
  readonly #items: Wanted[] = [];
  #next = 0;
  #closed = false;
  #waiting: (() => void)[] = [];
  /** How many were pushed in all. */
  get pushed(): number {
    return this.#items.length;
  }

  push(item: Wanted): void {
    this.#items.push(item);
    this.#waiting.shift()?.();
  }

  /** No more will come; the tasks waiting for one end. */
  close(): void {
    this.#closed = true;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  /** The next package, or undefined once the queue is closed and empty. */
  async take(): Promise<Wanted | undefined> {
    while (this.#next >= this.#items.length && !this.#closed) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    const item = this.#items[this.#next];
    if (item !== undefined) this.#next++;
    return item;
  }
}

/** Both results, once both have settled; the first failure (in argument order) otherwise. */
async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'rejected') throw first.reason;
  if (second.status === 'rejected') throw second.reason;
  return [first.value, second.value];
}

/** dnf's includepkgs/exclude: globs on the package name (or name.arch). */
export function selected(name: string, arch: string, options: Pick<RepoOptions, 'includepkgs' | 'exclude'>): boolean {
  const matches = (glob: string) => path.posix.matchesGlob(name, glob) || path.posix.matchesGlob(`${name}.${arch}`, glob);
  if (options.includepkgs.length > 0 && !options.includepkgs.some(matches)) return false;
  return !options.exclude.some(matches);
}

/** Downloads, checks and admits `wanted` with the repo's parallelism; returns how many could not be downloaded. */
async function downloadAll(wanted: WantedQueue, ctx: MirrorSyncContext, remote: Remote, admission: Admission): Promise<number> {
  const dir = path.join(ctx.stagingDir, 'downloads');
  await mkdir(dir, { recursive: true });
  // Partial files of earlier runs, to resume; asking the filesystem about every other name would cost a failed lstat each.
  const leftovers = new Set(await readdir(dir));
  let failed = 0;
  // Tasks waiting for the parse to list more stop waiting.
  ctx.signal.addEventListener('abort', () => wanted.close(), { once: true });
  // Packages go through their steps (download, staging and checksum, verification, link) in more tasks than there
  // are connections, and only the transfer holds one: the connections never wait for the other steps, which are
  // round trips to another thread or CPU. At most max_parallel_downloads transfers run at once, as in dnf
  // (Admission.download sees to it).
  let admitError: unknown;
  const admit = async (staged: string, item: Wanted, held: StagedPackage | undefined): Promise<void> => {
    await admission.admit(staged, item.name, item.checksum, held).catch((error: unknown) => void (admitError ??= error));
  };
  // Set when a task fails in a way no package explains: the others stop taking packages.
  let broken = false;
  const worker = async (): Promise<void> => {
    while (!ctx.signal.aborted && !broken) {
      const item = await wanted.take();
      if (item === undefined) return;
      const staged = path.join(dir, item.name);
      const rejectedCopy = `${staged}.bad`;
      let mayHaveStart = leftovers.has(item.name);
      let badCopy = leftovers.has(`${item.name}.bad`);
      // Set when the package was held in memory and staged (and maybe verified) from there.
      let held: StagedPackage | undefined;
      try {
        await withRetries(item.url.href, ctx.options.retries + 1, ctx, async () => {
          const have = mayHaveStart ? ((await lstat(staged).catch(() => undefined))?.size ?? 0) : 0;
          mayHaveStart = true;
          const got = await admission.download(remote, item.url, staged, have, item.checksum.type, HOLD_BYTES);
          if (got.resumedAt > 0) ctx.log.info({ file: item.name, from: got.resumedAt }, 'download resumed');
          // A package a thread held in memory comes staged, with the digest of what it wrote.
          const staging = got.staged;
          const problem = await contentProblem(staged, { ...got, digest: staging?.digest ?? got.digest }, item.size, item.checksum);
          // A bad whole file cannot be resumed into a good one: the next attempt starts over.
          if (problem === undefined) {
            held = staging;
            return;
          }
          await rename(staged, rejectedCopy);
          badCopy = true;
          throw problem;
        });
      } catch (error) {
        if (ctx.signal.aborted) return;
        if (error instanceof ContentMismatch) {
          // What the mirror serves after every attempt: keep the last copy in quarantine for a look.
          await admission.refuse(item.name, error.reason, error.message, rejectedCopy);
        } else if (error instanceof RemoteError) {
          failed++;
          // A partial file stays in staging (outside Packages/) for the next run to resume.
          await admission.refuse(item.name, 'download_failed', error.message);
        } else {
          throw error;
        }
        continue;
      }
      if (badCopy) await rm(rejectedCopy, { force: true });
      await admit(staged, item, held);
    }
  };
  const tasks = Array.from({ length: ctx.options.maxParallelDownloads + ADMISSIONS_IN_FLIGHT }, () =>
    worker().catch((error: unknown) => {
      broken = true;
      throw error;
    }));
  // Every task ends before this returns (the caller then closes what they use), also when one fails.
  const settled = await Promise.allSettled(tasks);
  for (const result of settled) if (result.status === 'rejected') throw result.reason;
  if (admitError !== undefined) throw admitError;
  return failed;
}

/** A whole download that is not the file the metadata describes; retryable, since it may have been damaged on the way. */
class ContentMismatch extends RemoteError {
  readonly reason: 'size_mismatch' | 'checksum_mismatch';

  constructor(reason: 'size_mismatch' | 'checksum_mismatch', message: string) {
    super(message, true);
    this.reason = reason;
  }
}

/** Why a downloaded file is not the one the metadata describes, or undefined when it is. */
async function contentProblem(file: string, got: ThreadDownload, size: number | undefined, checksum: Checksum): Promise<ContentMismatch | undefined> {
  if (size !== undefined && got.size !== size) return new ContentMismatch('size_mismatch', `size mismatch: ${got.size} bytes instead of the ${size} the metadata lists`);
  const digest = got.digest ?? (await hashFile(file, checksum.type));
  if (digest === checksum.value) return undefined;
  return new ContentMismatch('checksum_mismatch', `checksum mismatch: ${checksum.type} ${digest} instead of the ${checksum.value} the metadata lists`);
}

/** Each file through a temporary name, so a crash never leaves a torn one. */
async function saveAtomically(dir: string, files: Readonly<Record<string, string | Buffer>>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, data] of Object.entries(files)) {
    await writeFile(path.join(dir, `${name}.tmp`), data);
    await rename(path.join(dir, `${name}.tmp`), path.join(dir, name));
  }
}

async function withRetries<T>(what: string, attempts: number, ctx: MirrorSyncContext, run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    ctx.signal.throwIfAborted();
    try {
      return await run();
    } catch (error) {
      if (ctx.signal.aborted || !(error instanceof RemoteError) || !error.retryable || attempt >= attempts) throw error;
      ctx.log.info({ what, attempt, error: error.message }, 'transfer failed, retrying');
      await sleep(Math.min(BACKOFF_FIRST_MS * 2 ** (attempt - 1), BACKOFF_MAX_MS), undefined, { signal: ctx.signal });
    }
  }
}

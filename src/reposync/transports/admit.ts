// The one way a package enters Packages/ (SPEC §7.3): whole and verified in the staging dir first, then a hard link
// that cannot replace anything, so a half-written file or an overwrite of a kept version is never visible.
import { constants, linkSync, lstatSync, unlinkSync, type Stats } from 'node:fs';
import { copyFile, lstat, mkdir, open, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Checksum, ChecksumType } from '../repomd.js';
import type { MirrorSyncContext, MirrorSyncResult, PackageVerdict, RejectedPackage, RejectReason } from '../types.js';
import { limiter } from '../../each-limited.js';
import { startsWithLead } from '../../rpm/header.js';
import { checkRpmDigests } from '../../rpm/verify.js';
import { ChecksumCache, hashFile, sha256Checksum } from './checksum-cache.js';
import type { Remote } from './remote.js';
import { Stager, type StagedPackage, type ThreadDownload } from './stager.js';

const NO_LEAD: PackageVerdict = { ok: false, reason: 'corrupt', detail: 'no RPM lead magic at the start of the file' };

// Refusals for what a package's bytes are. A later run that is offered the same bytes checks the copy kept in
// quarantine again (the keys or the policy may have changed) instead of downloading and refusing them once more.
const VERDICT_REASONS: ReadonlySet<RejectReason> = new Set(['unsigned', 'unknown_key', 'bad_signature', 'payload_digest_mismatch', 'corrupt', 'unsupported_algorithm']);

/** What `<file>.reason.json` in the quarantine dir holds. */
interface QuarantineRecord {
  readonly file: string;
  readonly reason: RejectReason;
  readonly detail: string;
  readonly mirror: string;
  readonly time: string;
  /** Of the refused file: the metadata's, or sha256 of its bytes. */
  readonly checksum?: Checksum;
}

/** How a package already in Packages/ compares with one a mirror offers under the same name. */
export type Presence = 'missing' | 'same' | { readonly differs: string };

/** Counts and refusals of one mirror run, and the admission steps that update them. */
export class Admission {
  readonly #ctx: MirrorSyncContext;
  readonly #mirror: string;
  readonly #cache: ChecksumCache;
  /** The staging threads, for http(s) mirrors. */
  readonly #stager: Stager | undefined;
  /** max_parallel_downloads, for transfers on this thread (the staging threads share it out among themselves). */
  readonly #transfer: <T>(run: () => Promise<T>) => Promise<T>;
  admitted = 0;
  bytes = 0;
  readonly rejected: RejectedPackage[] = [];
  /** The quarantine dir's file names when the run began. */
  readonly #quarantined: ReadonlySet<string>;

  private constructor(ctx: MirrorSyncContext, mirror: string, cache: ChecksumCache, httpOnThreads: boolean, quarantined: ReadonlySet<string>) {
    this.#ctx = ctx;
    this.#mirror = mirror;
    this.#cache = cache;
    this.#quarantined = quarantined;
    this.#transfer = limiter(ctx.options.maxParallelDownloads);
    this.#stager = httpOnThreads ? new Stager(ctx.options, ctx.verifyKeys) : undefined;
  }

  /** With `httpOnThreads`, download() fetches packages over http(s) on the staging threads. */
  static async start(ctx: MirrorSyncContext, mirror: string, httpOnThreads = false): Promise<Admission> {
    await Promise.all([ctx.packagesDir, ctx.stagingDir, ctx.stateDir].map((dir) => mkdir(dir, { recursive: true })));
    const quarantined = new Set(await readdir(ctx.quarantineDir).catch(() => []));
    return new Admission(ctx, mirror, await ChecksumCache.load(ctx.stateDir), httpOnThreads, quarantined);
  }

  /**
   * Compares Packages/<name> with what a mirror lists: size first, then the checksum, read only when the size
   * matches (and cached). Without a checksum (rsync, local dir) equal size and mtime count as the same, as rsync's
   * own quick check does; otherwise the contents are compared with `other`.
   */
  async presence(name: string, size: number, checksum: Checksum | undefined, other?: string): Promise<Presence> {
    const file = path.join(this.#ctx.packagesDir, name);
    // Blocking, like the link: a re-sync looks at every package the mirror lists (75,000 for Fedora), and a trip
    // to the fs thread pool per package cost ~40 µs, 3 s in all for Fedora.
    const stats = lstatSync(file, { throwIfNoEntry: false });
    if (stats === undefined) return 'missing';
    if (!stats.isFile()) return { differs: `Packages/${name} is not a regular file` };
    if (stats.size !== size) return { differs: `Packages/${name} has ${stats.size} bytes, the mirror's ${size}` };
    if (checksum !== undefined) {
      const present = await this.#cache.digest(name, file, stats, checksum.type);
      return present === checksum.value ? 'same' : { differs: `Packages/${name} has ${checksum.type} ${present}, the mirror's ${checksum.value}` };
    }
    if (other === undefined) return 'same';
    const otherStats = lstatSync(other);
    // To the millisecond: a local copy gets its source's mtime through a Date, which drops the rest.
    if (Math.abs(otherStats.mtimeMs - stats.mtimeMs) < 1) return 'same';
    const [mine, theirs] = await Promise.all([this.#cache.digest(name, file, stats, 'sha256'), hashFile(other, 'sha256')]);
    return mine === theirs ? 'same' : { differs: `Packages/${name} holds other contents (sha256 ${mine}, the mirror's ${theirs})` };
  }

  /** Starts the staging threads now rather than with the first package (see Stager.warm). */
  warm(): void {
    this.#stager?.warm();
  }

  /**
   * Remote.download of a package to its staging path `dest`, at most max_parallel_downloads at once: on a
   * staging thread when http(s) runs there, which holds a package that fits in `holdUpTo` in memory to stage, hash
   * and (with the context's keys) verify it there (ThreadDownload.staged); else with `remote` on this thread.
   */
  async download(remote: Remote, url: URL, dest: string, have: number, digest: ChecksumType, holdUpTo: number): Promise<ThreadDownload> {
    if (this.#stager) return this.#stager.fetch(url, dest, this.#ctx.signal, have, digest, holdUpTo);
    return this.#transfer(() => remote.download(url, dest, this.#ctx.signal, have, digest));
  }

  /**
   * Verifies `staged` (whole, and already checked against `checksum` when the metadata gave one) and links it in
   * as Packages/<name>. A package refused, or different from one already there under that name, is quarantined:
   * a re-signed package with the same NEVRA never replaces the kept one. Returns whether it was admitted.
   *
   * `held`, when given, is how the download() of `staged` was staged on a thread: the lead is known, so is the
   * signature's verdict when the context gave its keys.
   */
  async admit(staged: string, name: string, checksum: Checksum | undefined, held?: StagedPackage): Promise<boolean> {
    const verdict = await this.#verify(staged, checksum, held);
    if (!verdict.ok) {
      // Recorded with the refusal, so that a later run offered the same bytes rechecks the copy (recheck()).
      const refused = checksum ?? (await sha256Checksum(staged));
      return this.refuse(name, verdict.reason, verdict.detail, staged, refused);
    }

    const final = path.join(this.#ctx.packagesDir, name);
    let identity: Stats;
    try {
      // Blocking calls: each is a few microseconds of metadata work, less than a round trip to the fs thread pool.
      linkSync(staged, final);
      identity = lstatSync(final);
      unlinkSync(staged);
    } catch (error) {
      // Callers look before they fetch, so this is rare: a name kept since, or a file that rsync re-sent.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const existing = await this.presence(name, (await lstat(staged)).size, checksum, staged);
      if (existing === 'missing') return this.admit(staged, name, checksum);
      if (existing !== 'same') return this.refuse(name, 'checksum_mismatch', `${existing.differs}; kept it`, staged);
      await unlink(staged);
      return false;
    }
    if (checksum !== undefined) this.#cache.remember(name, identity, checksum);
    this.admitted++;
    this.bytes += identity.size;
    this.#ctx.progress?.done(1, identity.size);
    this.#ctx.log.debug({ file: name, mirror: this.#mirror }, 'package admitted');
    return true;
  }

  /**
   * verifyPackage's verdict (or the one a staging thread found). When nothing else vouches for the bytes (no
   * checksum from metadata, gpgcheck off), rpm's own digests must match too: a package copied from a local dir
   * while it was being written is refused, not admitted half.
   */
  async #verify(staged: string, checksum: Checksum | undefined, held: StagedPackage | undefined): Promise<PackageVerdict> {
    if (!(held?.lead ?? (await hasRpmLead(staged)))) return NO_LEAD;
    const verdict = held?.verdict ?? (await this.#ctx.verifyPackage(staged));
    if (!verdict.ok || checksum !== undefined || this.#ctx.options.gpgcheck) return verdict;
    return checkRpmDigests(staged);
  }

  /**
   * For a package missing from Packages/ whose bytes an earlier run refused for what they are (VERDICT_REASONS):
   * when `checksum()` (what the mirror offers now) is that of the copy in quarantine, the copy is checked again
   * instead of fetching the same bytes. Still refused for the same reason: nothing more happens, and nothing is
   * counted again. Now accepted: admitted from the copy. Refused for another reason: refused anew. Returns whether
   * the copy stood in for the download (false: fetch the package as usual).
   */
  async recheck(name: string, checksum: () => Promise<Checksum>): Promise<boolean> {
    const local = quarantineName(name);
    if (!this.#quarantined.has(local) || !this.#quarantined.has(`${local}.reason.json`)) return false;
    const dir = this.#ctx.quarantineDir;
    const record = await readFile(path.join(dir, `${local}.reason.json`), 'utf8').then((text) => JSON.parse(text) as QuarantineRecord, () => undefined);
    if (record?.file !== name || record.checksum === undefined || !VERDICT_REASONS.has(record.reason)) return false;
    const offered = await checksum();
    if (offered.type !== record.checksum.type || offered.value !== record.checksum.value) return false;
    const rechecks = path.join(this.#ctx.stagingDir, 'rechecks');
    const staged = path.join(rechecks, local);
    await mkdir(rechecks, { recursive: true });
    await copyFile(path.join(dir, local), staged);
    if ((await hashFile(staged, offered.type)) !== offered.value) {
      await rm(staged, { force: true });
      return false;
    }
    const verdict = await this.#verify(staged, undefined, undefined);
    if (!verdict.ok && verdict.reason === record.reason) {
      await rm(staged, { force: true });
      this.#ctx.log.debug({ file: name, reason: verdict.reason, mirror: this.#mirror }, 'still refused, as the copy in quarantine shows');
      return true;
    }
    if (await this.admit(staged, name, offered)) await Promise.all([local, `${local}.reason.json`].map((file) => rm(path.join(dir, file), { force: true })));
    return true;
  }

  /**
   * Records a refusal; moves the staged file (if any) into quarantine next to a `<file>.reason.json`, with the
   * file's checksum when given.
   */
  async refuse(name: string, reason: RejectReason, detail: string, staged?: string, checksum?: Checksum): Promise<false> {
    this.rejected.push({ file: name, reason, detail });
    this.#ctx.progress?.done(1, 0);
    this.#ctx.log.warn({ file: name, reason, detail, mirror: this.#mirror }, 'package refused');
    const dir = this.#ctx.quarantineDir;
    await mkdir(dir, { recursive: true });
    // A refused name may come straight from hostile metadata (`../x`, NUL, …): only a tamed copy names files.
    const local = quarantineName(name);
    if (staged !== undefined) await moveFile(staged, path.join(dir, local));
    const record: QuarantineRecord = { file: name, reason, detail, mirror: this.#mirror, time: new Date().toISOString(), ...(checksum === undefined ? {} : { checksum }) };
    await writeFile(path.join(dir, `${local}.reason.json`), `${JSON.stringify(record, null, 2)}\n`);
    return false;
  }

  /** Saves the checksum cache; call once at the end of a run, also a failed one. */
  async finish(): Promise<void> {
    await this.#stager?.close();
    await this.#cache.save();
  }

  result(ok: boolean, detail: string, unchanged = false): MirrorSyncResult {
    return { ok, detail, admitted: this.admitted, bytes: this.bytes, rejected: [...this.rejected], unchanged };
  }
}

function quarantineName(name: string): string {
  const tamed = name.replace(/[^\w.+~^-]/g, '_').replace(/^\.+/, '_').slice(0, 200);
  return tamed === '' ? '_' : tamed;
}

async function hasRpmLead(file: string): Promise<boolean> {
  const handle = await open(file, constants.O_RDONLY);
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return startsWithLead(buffer.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

/** The quarantine dir may be on another filesystem than staging. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(from, to);
    await unlink(from);
  }
}

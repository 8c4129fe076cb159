// Probes one mirror of a repository for retrace-server-plugin-checker (SPEC §3): can it be read at all?
//
// Rules per kind:
// - local: a plain path must be a readable directory. A path with a glob (`/srv/x/Packages/*/*.rpm`) must match at
//   least one file, not merely have an existing dir part: reposync copies the matches, so zero matches is a mirror
//   that yields nothing, the same verdict rsync gives a remote glob with no match (exit 23).
// - rsync://: `rsync --list-only`; the daemon expands remote globs itself.
// - http(s):// and ftp://: `repodata/repomd.xml` below the mirror; if that is missing (404), the mirror URL itself
//   (a directory listing) answering counts too. These servers cannot expand globs, so trailing glob segments are
//   dropped first (`…/os/Packages/*/*.rpm` is probed as `…/os/Packages/`).
//   FTP goes through the `curl` binary: Node has no FTP client, and curl avoids adding an npm dependency.
// A probe never throws: every failure is ok: false with a short reason.
import { constants } from 'node:fs';
import { access, glob, stat } from 'node:fs/promises';

export type MirrorKind = 'local' | 'rsync' | 'http' | 'ftp';

export interface ProbeResult {
  readonly mirror: string;
  readonly kind: MirrorKind;
  readonly ok: boolean;
  /** A short human reason, e.g. 'rsync exited 10 (connection failed): …' or 'directory exists'. */
  readonly detail: string;
  readonly durationMs: number;
}

export interface ProbeOptions {
  /** Upper bound for the whole probe; default 10 000. */
  readonly timeoutMs?: number;
}

interface Verdict {
  readonly ok: boolean;
  readonly detail: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;
// After this long past the deadline a child that ignored SIGTERM gets SIGKILL.
const KILL_GRACE_MS = 1_000;
const GLOB_CHARS = /[*?[]/;

export function mirrorKind(mirror: string): MirrorKind {
  const scheme = /^([a-z]+):\/\//i.exec(mirror)?.[1]?.toLowerCase();
  if (scheme === 'rsync') return 'rsync';
  if (scheme === 'http' || scheme === 'https') return 'http';
  if (scheme === 'ftp') return 'ftp';
  return 'local';
}

/** `mirror` must already have $VER and $ARCH expanded. */
export async function probeMirror(mirror: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const kind = mirrorKind(mirror);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = performance.now();
  let verdict: Verdict;
  try {
    verdict = await PROBES[kind](mirror, timeoutMs);
  } catch (error) {
    verdict = { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
  return { mirror, kind, ...verdict, durationMs: Math.round(performance.now() - started) };
}

const PROBES: Record<MirrorKind, (mirror: string, timeoutMs: number) => Promise<Verdict>> = {
  local: (mirror, timeoutMs) => withDeadline(GLOB_CHARS.test(mirror) ? probeGlob(mirror) : probeDir(mirror), timeoutMs),
  rsync: probeRsync,
  http: probeHttp,
  ftp: probeFtp,
};

// A hung network filesystem must not hang the checker; the fs call itself cannot be cancelled.
async function withDeadline(probe: Promise<Verdict>, timeoutMs: number): Promise<Verdict> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<Verdict>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([probe, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function probeGlob(pattern: string): Promise<Verdict> {
  for await (const match of glob(pattern)) return { ok: true, detail: `glob matches ${match}` };
  return { ok: false, detail: 'no match for glob' };
}

async function probeDir(dir: string): Promise<Verdict> {
  try {
    if (!(await stat(dir)).isDirectory()) return { ok: false, detail: 'not a directory' };
    await access(dir, constants.R_OK | constants.X_OK);
    return { ok: true, detail: 'directory exists' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, detail: 'no such directory' };
    if (code === 'EACCES') return { ok: false, detail: 'directory not readable' };
    throw error;
  }
}

// man rsync, EXIT VALUES; the ones a listing runs into.
const RSYNC_EXIT: Readonly<Record<number, string>> = {
  1: 'usage error',
  5: 'daemon refused: unknown module or access denied',
  10: 'connection failed',
  12: 'protocol error',
  23: 'path missing or unreadable',
  30: 'timed out waiting for data',
  35: 'timed out connecting',
};

async function probeRsync(mirror: string, timeoutMs: number): Promise<Verdict> {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  // --contimeout covers only the TCP connect and --timeout fires late (research §4), so execa kills at the deadline.
  const { execa } = await import('execa');
  const result = await execa('rsync', ['--list-only', `--contimeout=${seconds}`, `--timeout=${seconds}`, mirror], {
    reject: false,
    stdin: 'ignore',
    stdout: 'ignore',
    timeout: timeoutMs,
    forceKillAfterDelay: KILL_GRACE_MS,
  });
  if (result.exitCode === 0) return { ok: true, detail: 'rsync listed it' };
  if (result.timedOut) return { ok: false, detail: `rsync gave no answer within ${timeoutMs} ms` };
  if (result.exitCode === undefined) return { ok: false, detail: spawnFailure('rsync', result.code, result.shortMessage) };
  const meaning = RSYNC_EXIT[result.exitCode] ?? 'see rsync(1)';
  const message = rsyncMessage(result.stderr);
  return { ok: false, detail: `rsync exited ${result.exitCode} (${meaning})${message === undefined ? '' : `: ${message}`}` };
}

/** The first line rsync wrote about the cause, without its role prefix; the closing 'rsync error:' line only repeats the code. */
function rsyncMessage(stderr: string): string | undefined {
  const line = stderr
    .split('\n')
    .map((text) => text.trim())
    .find((text) => text !== '' && !text.startsWith('rsync error:'));
  return line?.replace(/^(?:rsync: )?(?:\[\w+\] )?(?:@ERROR: )?/, '');
}

function spawnFailure(command: string, code: string | undefined, message: string | undefined): string {
  return code === 'ENOENT' ? `${command} is not installed` : (message ?? `${command} could not be run`);
}

/** The directory a remote mirror URL names, ending in '/', without trailing glob segments. */
function remoteDirUrl(mirror: string): string {
  const dir = mirror.replace(/(\/[^/]*[*?[][^/]*)+\/?$/, '');
  return dir.endsWith('/') ? dir : `${dir}/`;
}

async function probeHttp(mirror: string, timeoutMs: number): Promise<Verdict> {
  const signal = AbortSignal.timeout(timeoutMs);
  const dirUrl = remoteDirUrl(mirror);
  const repomdUrl = new URL('repodata/repomd.xml', dirUrl).href;
  let url = repomdUrl;
  try {
    const repomd = await httpGet(url, signal);
    if (repomd.ok) return { ok: true, detail: `repodata/repomd.xml found (HTTP ${repomd.status})` };
    if (repomd.status !== 404) return { ok: false, detail: `HTTP ${repomd.status} for ${url}` };
    url = dirUrl;
    const listing = await httpGet(url, signal);
    if (listing.ok) return { ok: true, detail: `no repodata/repomd.xml, but the directory answers (HTTP ${listing.status})` };
    return { ok: false, detail: `HTTP 404 for ${repomdUrl}, HTTP ${listing.status} for ${url}` };
  } catch (error) {
    if (signal.aborted) return { ok: false, detail: `no complete answer within ${timeoutMs} ms for ${url}` };
    return { ok: false, detail: `${fetchFailure(error)} for ${url}` };
  }
}

async function httpGet(url: string, signal: AbortSignal): Promise<{ ok: boolean; status: number }> {
  const response = await fetch(url, { signal });
  // Reading the body proves the server serves files, not only headers (a stalled mirror fails here).
  await response.arrayBuffer();
  return { ok: response.ok, status: response.status };
}

const NETWORK_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  UND_ERR_SOCKET: 'connection closed early',
};

/** fetch rejects with a bare 'fetch failed'; the reason is in its cause. */
function fetchFailure(error: unknown): string {
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  return NETWORK_ERRORS[cause?.code ?? ''] ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

// curl exit codes for "that path is not there": 78 no such file (RETR), 9 no such directory (CWD).
const CURL_NOT_FOUND = new Set([9, 78]);

async function probeFtp(mirror: string, timeoutMs: number): Promise<Verdict> {
  const deadline = performance.now() + timeoutMs;
  const dirUrl = remoteDirUrl(mirror);
  const repomdUrl = new URL('repodata/repomd.xml', dirUrl).href;
  const repomd = await curlGet(repomdUrl, deadline - performance.now());
  if (repomd.outcome === 'found') return { ok: true, detail: 'repodata/repomd.xml found' };
  if (repomd.outcome === 'failed') return { ok: false, detail: `${repomd.detail} for ${repomdUrl}` };
  const listing = await curlGet(dirUrl, deadline - performance.now());
  if (listing.outcome === 'found') return { ok: true, detail: 'no repodata/repomd.xml, but the directory lists' };
  return { ok: false, detail: `no ${repomdUrl}, and ${listing.detail} for ${dirUrl}` };
}

type CurlOutcome = { readonly outcome: 'found' } | { readonly outcome: 'missing' | 'failed'; readonly detail: string };

async function curlGet(url: string, remainingMs: number): Promise<CurlOutcome> {
  const timeoutMs = Math.max(1, Math.round(remainingMs));
  // -q: ignore ~/.curlrc. curl's own --max-time gives the clearer message; execa's kill is the backstop.
  const args = ['-q', '-sS', '--max-time', (timeoutMs / 1000).toFixed(3), '-o', '/dev/null', url];
  const { execa } = await import('execa');
  const result = await execa('curl', args, {
    reject: false,
    stdin: 'ignore',
    timeout: timeoutMs + KILL_GRACE_MS,
    forceKillAfterDelay: KILL_GRACE_MS,
  });
  if (result.exitCode === 0) return { outcome: 'found' };
  if (result.timedOut) return { outcome: 'failed', detail: `curl gave no answer within ${timeoutMs} ms` };
  if (result.exitCode === undefined) return { outcome: 'failed', detail: spawnFailure('curl', result.code, result.shortMessage) };
  const message = /^curl: \(\d+\) (.*)$/m.exec(result.stderr)?.[1];
  const detail = `curl exited ${result.exitCode}${message === undefined ? '' : `: ${message}`}`;
  return { outcome: CURL_NOT_FOUND.has(result.exitCode) ? 'missing' : 'failed', detail };
}

// ftp:// mirrors through the curl binary: Node has no FTP client, and curl (already used by the mirror probe)
// resumes with REST (`-C -`) and abandons a stalled transfer with --speed-limit/--speed-time.
import { lstat } from 'node:fs/promises';
import type { RepoOptions } from '../types.js';
import { RemoteError, type Remote } from './remote.js';

// curl exit codes that retrying cannot fix: 9 no such directory, 78 no such file, 67 login denied, 3 bad URL.
const PERMANENT = new Set([3, 9, 67, 78]);
const KILL_GRACE_MS = 1_000;

export function ftpRemote(options: RepoOptions): Remote {
  const seconds = String(options.timeoutSeconds);
  const common = [
    '-q', // not ~/.curlrc
    '-sS',
    '--connect-timeout', seconds,
    // Less than 1 byte/s for `timeout` seconds: dnf's "no progress" timeout.
    '--speed-limit', '1',
    '--speed-time', seconds,
    ...(options.proxy === undefined ? [] : ['--proxy', options.proxy]),
  ];

  const curl = async (args: readonly string[], url: URL, signal: AbortSignal): Promise<Buffer> => {
    const { execa } = await import('execa');
    const result = await execa('curl', [...common, ...args, '--', url.href], {
      reject: false,
      stdin: 'ignore',
      encoding: 'buffer',
      cancelSignal: signal,
      forceKillAfterDelay: KILL_GRACE_MS,
    });
    signal.throwIfAborted();
    if (result.exitCode === 0) return Buffer.from(result.stdout);
    const message = /^curl: \(\d+\) (.*)$/m.exec(Buffer.from(result.stderr).toString('utf8'))?.[1] ?? result.shortMessage;
    const code = result.exitCode;
    throw new RemoteError(`curl exited ${code ?? '(killed)'}: ${message} for ${url.href}`, code === undefined || !PERMANENT.has(code));
  };

  return {
    fetch: (url, signal) => curl(['-o', '-'], url, signal),
    async download(url, dest, signal, have) {
      // `-C -`: continue from the size of what is already there (REST), or from 0 for a new file.
      await curl(['-C', '-', '-o', dest], url, signal);
      return { resumedAt: have, size: (await lstat(dest)).size };
    },
    close() {},
  };
}

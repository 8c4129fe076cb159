// Brings one mirror's packages into a repo's Packages/ (SPEC §7.2, §7.3). The orchestrator tries a repo's mirrors
// in turn and stops at the first result with ok: true.
//
// Every transport stages outside Packages/, verifies, and links in without replacing anything (transports/admit.ts).
// On ctx.signal the promise rejects with the signal's reason; whatever was unfinished stays in staging only.
import { mirrorKind } from '../plugins/mirror-probe.js';
import { syncRepodata } from './transports/downloader.js';
import { ftpRemote } from './transports/ftp.js';
import { httpRemote } from './transports/http.js';
import { syncLocal } from './transports/local.js';
import type { Remote } from './transports/remote.js';
import { syncRsync } from './transports/rsync.js';
import type { MirrorSyncContext, MirrorSyncResult } from './types.js';

/** `mirror` has $VER and $ARCH already expanded. */
export async function syncFromMirror(mirror: string, ctx: MirrorSyncContext): Promise<MirrorSyncResult> {
  switch (mirrorKind(mirror)) {
    case 'local':
      return syncLocal(mirror, ctx);
    case 'rsync':
      return syncRsync(mirror, ctx);
    case 'http': {
      const remote = await httpRemote(ctx.options).catch((error: unknown) => `cannot set up HTTP: ${(error as Error).message}`);
      if (typeof remote === 'string') return { ok: false, detail: remote, admitted: 0, bytes: 0, rejected: [], unchanged: false };
      return withRemote(remote, () => syncRepodata(mirror, ctx, remote, true));
    }
    case 'ftp':
      return withRemote(ftpRemote(ctx.options), (remote) => syncRepodata(mirror, ctx, remote));
  }
}

async function withRemote<T>(remote: Remote, use: (remote: Remote) => Promise<T>): Promise<T> {
  try {
    return await use(remote);
  } finally {
    remote.close();
  }
}

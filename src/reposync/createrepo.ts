// repodata/ from createrepo_c, run as upstream runs it (`createrepo_c <dir> [--update]`) so the worker and mock see
// the same metadata as before. Its exit code says only whether it ran: a package it cannot read is a warning
// (reposync-anchors §3), which is why packages are verified before they enter Packages/.

import type { Logger } from '../log.js';

export const CREATEREPO_BIN = 'createrepo_c';

export interface CreaterepoOptions {
  readonly targetDir: string;
  /** UseCreaterepoUpdate: reuse the old metadata of unchanged files. */
  readonly update: boolean;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** Environment for the child (PATH decides which createrepo_c runs). */
  readonly env?: NodeJS.ProcessEnv;
}

export type CreaterepoResult = { readonly ok: true } | { readonly ok: false; readonly detail: string };

export async function runCreaterepo({ targetDir, update, log, signal, env }: CreaterepoOptions): Promise<CreaterepoResult> {
  const args = [targetDir, ...(update ? ['--update'] : [])];
  log.debug(`running ${CREATEREPO_BIN} ${args.join(' ')}`);
  // Loaded on first use: a run that changes nothing never loads execa and its ~110 modules.
  const { execa } = await import('execa');
  const result = await execa(CREATEREPO_BIN, args, {
    reject: false,
    all: true,
    stdin: 'ignore',
    env: env ?? process.env,
    extendEnv: false,
    ...(signal ? { cancelSignal: signal, forceKillAfterDelay: 5000 } : {}),
  });
  const output = (result.all ?? '').trim();
  if (output) log.trace(output);
  if (result.exitCode === 0 && !result.failed) return { ok: true };
  const why = result.isCanceled ? 'stopped' : result.exitCode === undefined ? result.shortMessage : `exit code ${result.exitCode}`;
  return { ok: false, detail: `${CREATEREPO_BIN} failed (${why})${output ? `: ${lastLines(output, 20)}` : ''}` };
}

function lastLines(text: string, count: number): string {
  return text.split('\n').slice(-count).join('\n');
}

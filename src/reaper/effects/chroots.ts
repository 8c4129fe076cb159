// A task's mock chroots (SPEC §6.2): `<id>` (coredump) and `<id>-kernel` (vmcore, never scrubbed
// upstream), each with its `-bootstrap` twin, in MockRootDir and in MockCacheDir. Names come from
// the task id alone; nothing from the task dir (its mock config) is read or run.

import path from 'node:path';
import { assertTaskId, failed, succeeded, type EffectOutcome, type ReapContext } from './context.js';
import { discard, removalFailure, StillMountedError } from './trash.js';

export function chrootPaths(taskId: string, ctx: ReapContext): { readonly path: string; readonly root: string }[] {
  assertTaskId(taskId);
  const names = [taskId, `${taskId}-kernel`].flatMap((name) => [name, `${name}-bootstrap`]);
  return [ctx.mockRootDir, ctx.mockCacheDir].flatMap((root) => names.map((name) => ({ path: path.join(root, name), root })));
}

/**
 * Removes every chroot of the task that is a real directory (a symlink there is left alone).
 * A chroot with something mounted that will not unmount is left as it is; the others still go,
 * and the outcome is `mounted`.
 */
export async function removeChroots(taskId: string, ctx: ReapContext): Promise<EffectOutcome> {
  let removed = 0;
  const stuck: string[] = [];
  for (const chroot of chrootPaths(taskId, ctx)) {
    try {
      const result = await discard(chroot.path, chroot.root, { onlyDirectory: true });
      if (result === 'removed') removed++;
      else if (result === 'not-a-directory') ctx.log.warn({ taskId, path: chroot.path }, 'chroot path is not a directory: left alone');
    } catch (error) {
      if (!(error instanceof StillMountedError)) return removalFailure(error);
      stuck.push(error.message);
    }
  }
  if (stuck.length > 0) {
    ctx.log.warn({ taskId, removed, stuck }, 'chroot left mounted');
    return failed('mounted', stuck.join('; '));
  }
  return succeeded(`${removed} chroot(s) removed`, removed);
}

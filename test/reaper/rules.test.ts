import { describe, expect, it } from 'vitest';
import { nextReapAction, type ReapFacts, type ReapPolicy } from '../../src/reaper/rules.js';

const H = 3_600_000;
const T0 = 1_700_000_000_000; // the task dir's mtime in every case

const policy: ReapPolicy = {
  maxTaskRuntimeMs: 3_600_000,
  orphanGraceMs: 600_000,
  crashSettleMs: 1000,
  deleteTaskAfterHours: 120,
  deleteFailedTaskAfterHours: 24,
  archiveTaskAfterHours: 0,
  allowTaskManager: false,
  removalRefused: false,
};

function task(over: Partial<ReapFacts['snapshot']> & { worker?: number; seen?: number; gone?: number } = {}): ReapFacts {
  const { worker, seen, gone, ...snapshot } = over;
  return {
    snapshot: { status: undefined, mtimeMs: T0, managed: false, result: undefined, ...snapshot },
    worker: worker === undefined ? undefined : { startTimeMs: worker },
    workerSeenMs: seen ?? worker,
    workerGoneMs: gone,
  };
}

const success = { status: 6, result: 'success' as const };
const failure = { status: 7, result: 'failure' as const };

describe('nextReapAction', () => {
  it.each<[string, ReapFacts, Partial<ReapPolicy>, ReturnType<typeof nextReapAction>]>([
    // Rule 1: over-time
    ['a worker is killed MaxTaskRuntime after it started', task({ worker: T0 + 5000, status: 2 }), {},
      { kind: 'kill', reason: 'overtime', dueMs: T0 + 5000 + H }],
    ['a shorter MaxTaskRuntime', task({ worker: T0 }), { maxTaskRuntimeMs: 60_000 },
      { kind: 'kill', reason: 'overtime', dueMs: T0 + 60_000 }],
    ['a managed task is not killed with AllowTaskManager', task({ worker: T0, managed: true }), { allowTaskManager: true }, undefined],
    ['the managed marker means nothing without AllowTaskManager', task({ worker: T0, managed: true }), {},
      { kind: 'kill', reason: 'overtime', dueMs: T0 + H }],
    ['a running task is never removed for its age', task({ worker: T0 - 200 * H }), {},
      { kind: 'kill', reason: 'overtime', dueMs: T0 - 199 * H }],
    ['a managed running task is neither killed nor removed', task({ worker: T0, managed: true }), { allowTaskManager: true, deleteTaskAfterHours: 1 }, undefined],

    // Rule 2: crashed
    ['a worker seen and gone: due 1 s after it was found gone', task({ seen: T0 + 10, gone: T0 + 20 }), {},
      { kind: 'finish', reason: 'crashed', dueMs: T0 + 1020 }],
    ['no worker ever seen: due OrphanGrace after the dir last changed', task({}), {},
      { kind: 'finish', reason: 'crashed', dueMs: T0 + 600_000 }],
    ['OrphanGrace 0', task({}), { orphanGraceMs: 0 }, { kind: 'finish', reason: 'crashed', dueMs: T0 }],
    ['a managed orphan is exempt', task({ managed: true }), { allowTaskManager: true },
      { kind: 'remove', reason: 'expired', dueMs: T0 + 120 * H }],
    ['a finished task is never finished again', task({ ...failure, seen: T0, gone: T0 }), {},
      { kind: 'remove', reason: 'expired_failed', dueMs: T0 + 24 * H }],

    // Rule 3: age
    ['an old successful task is removed at mtime + DeleteTaskAfter', task(success), {},
      { kind: 'remove', reason: 'expired', dueMs: T0 + 120 * H }],
    ['a failed task goes at DeleteFailedTaskAfter', task(failure), {},
      { kind: 'remove', reason: 'expired_failed', dueMs: T0 + 24 * H }],
    ['failure means status 7, not a missing backtrace', task({ status: 4, result: 'failure' }), {},
      { kind: 'remove', reason: 'expired', dueMs: T0 + 120 * H }],
    ['DeleteTaskAfter 0 never removes', task(success), { deleteTaskAfterHours: 0 }, undefined],
    ['negative values are off too', task(failure), { deleteTaskAfterHours: -1, deleteFailedTaskAfterHours: -1 }, undefined],
    ['archive alone', task(success), { deleteTaskAfterHours: 0, archiveTaskAfterHours: 48 },
      { kind: 'archive', reason: 'archived', dueMs: T0 + 48 * H }],
    ['archive below delete: archive acts', task(success), { archiveTaskAfterHours: 100 },
      { kind: 'archive', reason: 'archived', dueMs: T0 + 100 * H }],
    ['delete below archive: delete acts', task(success), { archiveTaskAfterHours: 200 },
      { kind: 'remove', reason: 'expired', dueMs: T0 + 120 * H }],
    ['archive equal to delete: archive acts', task(success), { archiveTaskAfterHours: 120 },
      { kind: 'archive', reason: 'archived', dueMs: T0 + 120 * H }],
    ['a failed task archived before its failed-deletion is due', task(failure), { archiveTaskAfterHours: 10, deleteFailedTaskAfterHours: 24 },
      { kind: 'archive', reason: 'archived', dueMs: T0 + 10 * H }],
    ['check_config refusal: nothing is removed or archived', task(failure), { removalRefused: true, archiveTaskAfterHours: 1 }, undefined],
    ['check_config refusal still finishes crashed tasks', task({ seen: T0, gone: T0 }), { removalRefused: true },
      { kind: 'finish', reason: 'crashed', dueMs: T0 + 1000 }],
    ['an orphan is finished long before it is old', task({}), { deleteTaskAfterHours: 1 },
      { kind: 'finish', reason: 'crashed', dueMs: T0 + 600_000 }],
    ['an orphan older than DeleteTaskAfter is removed as expired', task({}), { deleteTaskAfterHours: 1, orphanGraceMs: 2 * H },
      { kind: 'remove', reason: 'expired', dueMs: T0 + H }],
  ])('%s', (_name, facts, override, expected) => {
    expect(nextReapAction(facts, { ...policy, ...override })).toEqual(expected);
  });

  it('moves every age rule with the mtime (a new file in the dir resets the age)', () => {
    const before = nextReapAction(task(success), policy);
    const after = nextReapAction(task({ ...success, mtimeMs: T0 + 5 * H }), policy);
    expect(after!.dueMs - before!.dueMs).toBe(5 * H);
  });
});

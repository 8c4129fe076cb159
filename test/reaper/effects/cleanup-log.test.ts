import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendCleanupLog, cleanupLine, timedeltaText } from '../../../src/reaper/effects/cleanup-log.js';
import { createEffectsEnv, type EffectsEnv } from '../fixtures/effects.js';

describe('cleanup.log lines', () => {
  it('formats runtimes like Python str(timedelta)', () => {
    expect(timedeltaText(3601)).toBe('1:00:01');
    expect(timedeltaText(59)).toBe('0:00:59');
    expect(timedeltaText(86_400)).toBe('1 day, 0:00:00');
    expect(timedeltaText(2 * 86_400 + 3725.9)).toBe('2 days, 1:02:05');
  });

  it('writes the upstream texts, %d ids without leading zeros', () => {
    expect(cleanupLine.pass(new Date(2024, 0, 2, 3, 4, 5))).toBe('[2024-01-02 03:04:05] Running cleanup');
    expect(cleanupLine.killing('123456789', 3601)).toBe('Killing task 123456789 running for 1:00:01');
    expect(cleanupLine.orphan('0042')).toBe('Cleaning up orphaned task 42');
    expect(cleanupLine.deleting('0042')).toBe('Deleting old task 0042');
    expect(cleanupLine.deletingFailed('42')).toBe('Deleting old failed task 42');
    expect(cleanupLine.archiving('42')).toBe('Archiving task 42');
    expect(cleanupLine.crashFileOpen('42')).toBe('Deletion of task 42 skipped - crash file is opened.');
    expect(cleanupLine.tarError(2, 'tar: x: Cannot open\ntar: Error is not recoverable\n')).toBe(
      'Error: tar exited with 2: tar: x: Cannot open tar: Error is not recoverable',
    );
  });
});

describe('appendCleanupLog', () => {
  let env: EffectsEnv;
  beforeEach(async () => {
    env = await createEffectsEnv();
  });
  afterEach(() => env.cleanup());

  it('creates LogDir and appends whole lines', async () => {
    await appendCleanupLog(env.ctx, cleanupLine.pass(new Date(2024, 0, 2, 3, 4, 5)), cleanupLine.deleting('7'));
    await appendCleanupLog(env.ctx, cleanupLine.archiving('8'));
    expect(await readFile(path.join(env.ctx.logDir, 'cleanup.log'), 'utf8')).toBe(
      '[2024-01-02 03:04:05] Running cleanup\nDeleting old task 7\nArchiving task 8\n',
    );
  });
});

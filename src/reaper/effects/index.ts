// The reaper's effects: everything that signals processes or changes files. The scheduler decides
// (rules.ts) and calls these; each re-checks what it can on disk and in /proc before acting.

export { archiveTask } from './archive.js';
export { chrootPaths, removeChroots } from './chroots.js';
export { cleanTaskDir, KEPT_TASK_ENTRIES } from './clean-task.js';
export { appendCleanupLog, cleanupLine, timedeltaText } from './cleanup-log.js';
export type { EffectOutcome, FailureReason, ReapContext } from './context.js';
export { finishAsFailed } from './finish.js';
export { killWorker, liveWorkers, type KillOptions } from './kill.js';
export { openCrashFiles } from './open-files.js';
export { removeTask } from './remove.js';
export { recoverTrash, TRASH_DIR } from './trash.js';

// The real agent binary as a child process, from the TypeScript sources: its JSON log records, the port it
// listens on once ready, and SIGTERM with the time it took to exit. Tests call killAgents() after each test.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = join(import.meta.dirname, '..', '..');
/** SPEC §11: SIGTERM stops within 10 s. */
export const STOP_LIMIT_MS = 10_000;

export interface RunningAgent {
  readonly child: ChildProcess;
  /** Every JSON log record so far. */
  readonly records: Array<Record<string, unknown>>;
  /** Resolves with the metrics port once the agent logged 'agent ready'. */
  readonly ready: Promise<number>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every agent a test started and left running. */
export function killAgents(): void {
  for (const child of running) child.kill('SIGKILL');
}

export function startAgent(config: string, pluginDir: string): RunningAgent {
  // Not under systemd: no notify socket, and plain JSON lines (no journald priority prefixes).
  const env = { ...process.env };
  for (const key of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'JOURNAL_STREAM']) delete env[key];
  const child = spawn(process.execPath, ['--import', join(ROOT, 'scripts/ts-loader.mjs'), join(ROOT, 'src/cli/agent.ts'),
    '--config', config, '--plugin-dir', pluginDir, '--listen', '127.0.0.1:0', '--log-level', 'info'],
  { stdio: ['ignore', 'pipe', 'inherit'], env });
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const records: Array<Record<string, unknown>> = [];
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the agent did not get ready within 30 s')), 30_000);
    void exited.then(({ code, signal }) => reject(new Error(`the agent exited (${code ?? signal}) before it was ready`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        record = { msg: line };
      }
      records.push(record);
      if (record.msg === 'agent ready') {
        clearTimeout(timer);
        resolve((record.listen as { port: number }).port);
      }
    });
  });
  // Not every test waits for readiness.
  ready.catch(() => {});
  return { child, records, ready, exited };
}

/** Sends SIGTERM and returns how long the agent took to exit, and how. */
export async function sigterm(agent: RunningAgent): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const sent = Date.now();
  agent.child.kill('SIGTERM');
  const limit = new Promise<'timeout'>((resolve) => setTimeout(resolve, STOP_LIMIT_MS + 5_000, 'timeout').unref());
  const result = await Promise.race([agent.exited, limit]);
  if (result === 'timeout') {
    agent.child.kill('SIGKILL');
    return { code: null, signal: null, ms: Date.now() - sent };
  }
  return { ...result, ms: Date.now() - sent };
}

export async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

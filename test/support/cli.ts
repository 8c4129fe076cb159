// Runs one of the project's binaries from its TypeScript source, as a real child process.

import { type ChildProcess, execFile, spawn, type StdioOptions } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const LOADER = join(ROOT, 'scripts', 'ts-loader.mjs');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export type CliName = 'agent' | 'reposync' | 'cleanup' | 'plugin-checker';

export function runCli(name: CliName, args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', LOADER, join(ROOT, 'src', 'cli', `${name}.ts`), ...args], {
      env: { ...process.env, ...options.env },
      timeout: options.timeoutMs ?? 30_000,
      killSignal: 'SIGKILL',
    }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts a binary from its TypeScript source as a real process and returns at once; `detached` gives it its own process group. */
export function spawnCli(name: CliName, args: readonly string[], options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions; detached?: boolean } = {}): ChildProcess {
  return spawn(process.execPath, ['--import', LOADER, join(ROOT, 'src', 'cli', `${name}.ts`), ...args], {
    env: { ...process.env, ...options.env },
    stdio: options.stdio ?? 'ignore',
    detached: options.detached ?? false,
  });
}

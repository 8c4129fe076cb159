// Where a worker thread's module is: the built `.js` beside its caller, or, when the caller runs from the
// TypeScript sources (tests, benchmarks), the `.ts` through Node's type stripping with the `.js` → `.ts`
// resolve hook that our imports need.
import { fileURLToPath } from 'node:url';

export interface WorkerModule {
  readonly url: URL;
  /** From the sources, the resolve hook; else undefined: the worker inherits the process's options, as by default. */
  readonly execArgv: string[] | undefined;
}

/** `name` without extension, relative to `callerUrl` (the caller's import.meta.url). */
export function workerModule(name: string, callerUrl: string): WorkerModule {
  const fromSource = callerUrl.endsWith('.ts');
  return {
    url: new URL(`${name}.${fromSource ? 'ts' : 'js'}`, callerUrl),
    execArgv: fromSource ? ['--import', fileURLToPath(new URL('../scripts/ts-loader.mjs', import.meta.url))] : undefined,
  };
}

// Lets Node 24 run this project's TypeScript sources directly (its built-in type stripping), for
// tests and benchmarks that spawn a CLI or a child process: our imports name `./x.js`, which
// tsc maps to `./x.ts`; this hook does the same at run time.
// Use: node --import ./scripts/ts-loader.mjs src/cli/agent.ts
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if (err?.code === 'ERR_MODULE_NOT_FOUND' && specifier.startsWith('.') && specifier.endsWith('.js')) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw err;
    }
  },
});

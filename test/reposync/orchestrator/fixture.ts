// A release to sync in tests: a temp config, a Python plugin `testdist` whose repos are local mirror dirs, real
// packages built once by rpmbuild, and a way to put a createrepo_c wrapper first on PATH.
import { chmod, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildRpms, type RpmSpec } from '../../support/rpm.js';
import { createTestSpool, type TestSpool } from '../../support/spool.js';

export interface ReleaseFixture {
  readonly spool: TestSpool;
  readonly pluginDir: string;
  readonly repoDir: string;
  /** Environment for runCli: config, plugin dir, no privilege drop. */
  readonly env: NodeJS.ProcessEnv;
  targetDir(version?: string): string;
  /** Writes the plugin with these repos (lists of mirrors). */
  writePlugin(repos: readonly (readonly string[])[]): Promise<void>;
  /** A copy of the config with `edit` applied, under its own name; returns runCli's env for it. */
  configVariant(name: string, edit: (text: string) => string): Promise<NodeJS.ProcessEnv>;
  /** Puts a `createrepo_c` shell script first on PATH for runs with the returned env. */
  createrepoWrapper(script: string): Promise<NodeJS.ProcessEnv>;
}

export async function createReleaseFixture(options: { agentLines?: string[]; retraceLines?: string[] } = {}): Promise<ReleaseFixture> {
  const spool = await createTestSpool();
  const pluginDir = join(spool.root, 'plugins');
  await mkdir(pluginDir);
  const configPath = await spool.writeConfig(options.agentLines ?? [], ['RequireGPGCheck = 0', ...(options.retraceLines ?? [])]);
  const env = { RETRACE_SERVER_CONFIG_PATH: configPath, RETRACE_SERVER_PLUGIN_DIR: pluginDir, RETRACE_SERVER_TESTING: '1' };
  const repoDir = join(spool.root, 'repos');
  return {
    spool,
    pluginDir,
    repoDir,
    env,
    targetDir: (version = '1') => join(repoDir, `testdist-${version}-x86_64`),
    async writePlugin(repos) {
      const lines = repos.map((mirrors) => `    [${mirrors.map((m) => JSON.stringify(m)).join(', ')}],`);
      await writeFile(join(pluginDir, 'testdist.py'), ['distribution = "testdist"', 'repos = [', ...lines, ']', ''].join('\n'));
    },
    async configVariant(name, edit) {
      const path = join(spool.root, `${name}.conf`);
      await writeFile(path, edit(await readFile(configPath, 'utf8')));
      return { ...env, RETRACE_SERVER_CONFIG_PATH: path };
    },
    async createrepoWrapper(script) {
      const bin = join(spool.root, `bin-${Math.random().toString(36).slice(2)}`);
      await mkdir(bin);
      await writeFile(join(bin, 'createrepo_c'), `#!/bin/sh\n${script}\n`);
      await chmod(join(bin, 'createrepo_c'), 0o755);
      return { ...env, PATH: `${bin}:${process.env.PATH ?? ''}` };
    },
  };
}

/** Builds packages into `dir` (a mirror) and returns their file names. */
export async function buildMirror(dir: string, specs: readonly RpmSpec[]): Promise<string[]> {
  const files = await buildRpms(specs.map((spec) => ({ payloadBytes: 1024, ...spec })), dir);
  return files.map((file) => file.slice(dir.length + 1));
}

export async function copyInto(files: readonly string[], from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const file of files) await copyFile(join(from, file), join(to, file));
}

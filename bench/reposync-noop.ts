// Benchmark: a no-op re-sync of one release (SPEC §13: ≤ 0.15 s for a repo whose packages did not change, at any
// size: no metadata re-parse, no createrepo run), in-process through syncRelease, on tmpfs.
//
//   cd /work/main && npx node bench/reposync-noop.ts [--packages DIR] [--keys DIR] [--runs 11]
//
// The mirror is a local dir of packages: by default the 2,000 signed packages bench/verify-rpm.ts leaves in
// /tmp/retrace-bench-verify-rpm (run that first), verified with its keys. Three rows, interleaved, medians: the whole
// no-op sync; the orchestrator alone (the same release with no repos: lock, layout, state, the createrepo check);
// and one createrepo_c run over the same tree, which is what upstream spent on every run. A fourth row runs the
// CLI (the build in dist/: run `npm run build` first) from exec to exit, as cron would.
// Our sources import `./x.js` for `./x.ts`: the same resolve hook the tests use.
import '../scripts/ts-loader.mjs';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';

const { parseConfig } = await import('../src/config/config.js');
const { createLogger } = await import('../src/log.js');
const { loadPlugins } = await import('../src/plugins/load.js');
const { syncRelease } = await import('../src/reposync/sync-release.js');

const { values: args } = parseArgs({
  options: {
    packages: { type: 'string', default: '/tmp/retrace-bench-verify-rpm/rpms' },
    keys: { type: 'string', default: '/tmp/retrace-bench-verify-rpm/keys' },
    runs: { type: 'string', default: '11' },
  },
});
const RUNS = Number(args.runs);
const run = promisify(execFile);
const log = createLogger({ name: 'bench', level: 'warn', out: process.stderr });

const root = await mkdtemp('/dev/shm/reposync-noop-');
try {
  const pluginDir = path.join(root, 'plugins');
  await mkdir(pluginDir);
  await writeFile(path.join(pluginDir, 'bench.py'), `distribution = "bench"\nrepos = [[${JSON.stringify(path.resolve(args.packages))}]]\n`);
  await writeFile(path.join(pluginDir, 'empty.py'), 'distribution = "empty"\nrepos = []\n');
  const configText = [
    '[retrace]', `RepoDir = ${path.join(root, 'repos')}`, 'RequireGPGCheck = 1',
    '[agent]', `LockDir = ${root}`, `GpgDir = ${path.resolve(args.keys)}`, '',
  ].join('\n');
  const config = parseConfig(configText, 'bench.conf');
  await writeFile(path.join(root, 'bench.conf'), configText);
  const cli = async (): Promise<number> => {
    const started = performance.now();
    await run(process.execPath, [path.resolve('dist/cli/reposync.js'), 'bench', '1', 'x86_64'], {
      env: { ...process.env, RETRACE_SERVER_CONFIG_PATH: path.join(root, 'bench.conf'), RETRACE_SERVER_PLUGIN_DIR: pluginDir, RETRACE_SERVER_TESTING: '1' },
    });
    return (performance.now() - started) / 1000;
  };
  const { plugins } = await loadPlugins(pluginDir);
  const sync = async (distribution: string): Promise<number> => {
    const started = performance.now();
    const outcome = await syncRelease({ config, plugins, release: { distribution, version: '1', arch: 'x86_64' }, log });
    if (outcome.exitCode !== 0) throw new Error(`${distribution}: exit ${outcome.exitCode}: ${outcome.message}`);
    return (performance.now() - started) / 1000;
  };

  const initial = await sync('bench');
  const target = path.join(root, 'repos', 'bench-1-x86_64');
  const packages = await readdir(path.join(target, 'Packages'));
  console.log(`${packages.length} packages from ${args.packages}, RepoDir on tmpfs, node ${process.version}`);
  console.log(`initial sync (copy, verify every signature, createrepo_c): ${initial.toFixed(3)} s`);
  await sync('empty');
  await mkdir(path.join(root, 'createrepo-out'));

  const rows = new Map<string, number[]>([
    ['no-op re-sync', []],
    ['orchestrator alone (no repos)', []],
    ['createrepo_c over the same tree (upstream, every run)', []],
    ['retrace-server-reposync, whole no-op run (exec to exit)', []],
  ]);
  const add = (label: string, seconds: number): void => void rows.get(label)?.push(seconds);
  for (let round = 0; round < RUNS; round++) {
    add('no-op re-sync', await sync('bench'));
    add('orchestrator alone (no repos)', await sync('empty'));
    add('retrace-server-reposync, whole no-op run (exec to exit)', await cli());
    if (round < 3) {
      const started = performance.now();
      await run('createrepo_c', ['--outputdir', path.join(root, 'createrepo-out'), target]);
      add('createrepo_c over the same tree (upstream, every run)', (performance.now() - started) / 1000);
    }
  }
  console.log('');
  console.log(`| what | median s (of ${RUNS}; createrepo_c of 3) | target |`);
  console.log('|---|---:|---|');
  for (const [label, times] of rows) console.log(`| ${label} | ${median(times).toFixed(4)} | ${label === 'no-op re-sync' ? '≤ 0.15' : ''} |`);
} finally {
  await rm(root, { recursive: true, force: true });
}

function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
}

#!/usr/bin/env node
// retrace-server-plugin-checker PLUGIN VERSION ARCH: probes every mirror of every repo of a plugin,
// with upstream's output; --lint validates every plugin in the directory.

import { basename, extname } from 'node:path';
import { lintPlugin } from '../plugins/lint.js';
import { loadPlugins, resolvePluginDir, type PluginSet } from '../plugins/load.js';
import { probeMirror } from '../plugins/mirror-probe.js';
import { expandTemplate } from '../plugins/release.js';
import type { DistributionPlugin } from '../plugins/types.js';
import { createProgram, die, ignoreInspectorSignal, PLUGIN_DIR_OPTION_HELP } from './program.js';

const NAME = 'retrace-server-plugin-checker';

interface Options {
  pluginDir?: string;
  onlyValid?: boolean;
  onlyInvalid?: boolean;
  firstValid?: boolean;
  lint?: boolean;
  verbose?: boolean;
  timeout: string;
}

const program = createProgram(NAME, 'Retrace Server plugin checker')
  .argument('[PLUGIN]', 'plugin name (file name without extension, or its distribution)')
  .argument('[VERSION]', 'release version')
  .argument('[ARCHITECTURE]', 'CPU architecture')
  .option('--plugin-dir <dir>', PLUGIN_DIR_OPTION_HELP)
  .option('--only-valid', 'print only valid mirrors')
  .option('--only-invalid', 'print only invalid mirrors')
  .option('--first-valid', 'print first valid mirror per repository')
  .option('--lint', 'validate every plugin in the plugin directory; exit 1 on any error')
  .option('-v, --verbose', 'say why a mirror failed')
  .option('--timeout <seconds>', 'time limit for each mirror probe', '10')
  .parse();

const opts = program.opts<Options>();
// Probing every mirror of a plugin, each with its own timeout, can take minutes.
ignoreInspectorSignal((message) => process.stderr.write(`${NAME}: ${message}\n`));
const [pluginName, version, arch] = program.args;
const pluginSet = await loadPlugins(resolvePluginDir(opts.pluginDir));

if (opts.lint) {
  process.exit(lint(pluginSet));
}
if (pluginName === undefined || version === undefined || arch === undefined) {
  die(NAME, 'PLUGIN, VERSION and ARCHITECTURE are required (or --lint); see --help', 2);
}

const plugin = findPlugin(pluginSet, pluginName);
if (!plugin) {
  const error = pluginSet.errors.find((e) => basename(e.file, extname(e.file)) === pluginName);
  if (error) process.stderr.write(`${error.message}\n`);
  console.log('Plugin could not be loaded. Use --plugin-dir if in another location.');
  process.exit(1);
}
await check(plugin, { version, arch }, opts);

function findPlugin(set: PluginSet, name: string): DistributionPlugin | undefined {
  return set.plugins.find((p) => basename(p.file, extname(p.file)) === name) ?? set.plugins.find((p) => p.distribution === name);
}

/** Upstream numbers repos from 0 and prints "[  OK  ]"/"[ FAIL ]" lines; the flag modes print bare URLs. */
async function check(plugin: DistributionPlugin, release: { version: string; arch: string }, options: Options): Promise<void> {
  const table = !(options.firstValid || options.onlyValid || options.onlyInvalid);
  const timeoutMs = Number(options.timeout) * 1000;
  for (const [index, repo] of plugin.repos.entries()) {
    if (table) console.log(`Repository ${index} - testing`);
    const mirrors = repo.mirrors.map((mirror) => expandTemplate(mirror, release));
    const results = await Promise.all(mirrors.map((mirror) => probeMirror(mirror, { timeoutMs })));
    for (const result of results) {
      if (table) console.log(`\t[ ${result.ok ? ' OK ' : 'FAIL'} ] ${result.mirror}${options.verbose && !result.ok ? ` (${result.detail})` : ''}`);
      else if (options.firstValid && result.ok) {
        console.log(result.mirror);
        break;
      } else if ((options.onlyValid && result.ok) || (options.onlyInvalid && !result.ok)) console.log(result.mirror);
    }
    if (table) console.log(`Repository ${index} - ${results.some((r) => r.ok) ? 'OK' : 'FAIL'}`);
  }
}

function lint(set: PluginSet): number {
  let errors = set.errors.length;
  for (const error of set.errors) console.log(`ERROR ${error.message}`);
  for (const plugin of set.plugins) {
    const problems = lintPlugin(plugin);
    errors += problems.length;
    for (const problem of problems) console.log(`ERROR ${plugin.file}: ${problem}`);
    if (problems.length === 0) console.log(`OK    ${plugin.file} (${plugin.distribution}, ${plugin.repos.length} repos)`);
  }
  for (const overlap of set.overlaps) console.log(`WARN  ${overlap}`);
  console.log(errors === 0 ? `${set.plugins.length} plugins valid` : `${errors} errors`);
  return errors === 0 ? 0 : 1;
}

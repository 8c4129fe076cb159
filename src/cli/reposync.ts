#!/usr/bin/env node
// retrace-server-reposync DIST VER ARCH: mirrors one release's repos into RepoDir (SPEC §7).

import { loadConfig, resolveConfigPath } from '../config/config.js';
import { loadPlugins, resolvePluginDir } from '../plugins/load.js';
import { canonicalArch } from '../plugins/arch.js';
import { CONFIG_OPTION_HELP, createProgram, die, PLUGIN_DIR_OPTION_HELP } from './program.js';

const NAME = 'retrace-server-reposync';

const program = createProgram(NAME, 'Synchronize the local repository of one release; old package versions are kept')
  .argument('<distribution>', 'distribution plugin name, e.g. fedora')
  .argument('<version>', 'release version, e.g. 40 or rawhide')
  .argument('<architecture>', 'architecture, e.g. x86_64 (i686 becomes i386)')
  .option('-c, --config <file>', CONFIG_OPTION_HELP)
  .option('--plugin-dir <dir>', PLUGIN_DIR_OPTION_HELP)
  .option('-v, --verbose', 'more output; twice shows rsync and createrepo output', (_v, count: number) => count + 1, 0)
  .parse();

const opts = program.opts<{ config?: string; pluginDir?: string; verbose: number }>();
const [distribution = '', version = '', arch = ''] = program.args;

try {
  loadConfig(resolveConfigPath(opts.config));
} catch (err) {
  die(NAME, (err as Error).message);
}
const plugins = await loadPlugins(resolvePluginDir(opts.pluginDir));
if (!plugins.plugins.some((p) => p.distribution === distribution)) die(NAME, `Unknown distribution: '${distribution}'`, 1);
die(NAME, `synchronizing ${distribution}-${version}-${canonicalArch(arch)} is not available in this version yet`, 4);

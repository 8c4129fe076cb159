// Loads every distribution plugin in the plugin dir (SPEC §3): native modules and existing Python
// plugin files (read as data, never executed), in file-name order. A broken plugin is reported and
// skipped; the others load.

import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginError } from './error.js';
import { readPythonPlugin } from './python-plugin.js';
import type { DistributionPlugin } from './types.js';
import { validatePlugin, type PluginFields } from './validate.js';

export const DEFAULT_PLUGIN_DIR = '/usr/share/retrace-server/plugins';
export const PLUGIN_DIR_ENV = 'RETRACE_SERVER_PLUGIN_DIR';

const NATIVE_EXTENSIONS = new Set(['.js', '.mjs', '.ts']);

export interface PluginSet {
  readonly dir: string;
  readonly plugins: readonly DistributionPlugin[];
  /** Broken plugins and duplicate distributions: each skipped. */
  readonly errors: readonly PluginError[];
  /** Plugins whose guessparsers are the same pattern: a package NVR goes to the first in load order. */
  readonly overlaps: readonly string[];
}

/** `--plugin-dir` beats `$RETRACE_SERVER_PLUGIN_DIR` beats the upstream default. */
export function resolvePluginDir(cliDir: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return cliDir ?? (env[PLUGIN_DIR_ENV] || DEFAULT_PLUGIN_DIR);
}

export function isPluginFile(name: string): boolean {
  return !name.startsWith('_') && !name.startsWith('.') && !name.endsWith('.d.ts')
    && (extname(name) === '.py' || NATIVE_EXTENSIONS.has(extname(name)));
}

export async function loadPlugins(dir: string): Promise<PluginSet> {
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && isPluginFile(entry.name))
      .map((entry) => entry.name)
      .sort();
  } catch (err) {
    return { dir, plugins: [], errors: [new PluginError(dir, undefined, `cannot list the plugin directory: ${(err as Error).message}`)], overlaps: [] };
  }

  const plugins: DistributionPlugin[] = [];
  const errors: PluginError[] = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      const plugin = await loadPluginFile(file);
      const first = plugins.find((other) => other.distribution === plugin.distribution);
      if (first) {
        throw new PluginError(file, undefined, `distribution '${plugin.distribution}' is already defined by ${first.file}; this plugin is skipped`);
      }
      plugins.push(plugin);
    } catch (err) {
      errors.push(err instanceof PluginError ? err : new PluginError(file, undefined, (err as Error).message));
    }
  }
  return { dir, plugins, errors, overlaps: guessparserOverlaps(plugins) };
}

export async function loadPluginFile(file: string): Promise<DistributionPlugin> {
  const fields = extname(file) === '.py'
    ? readPythonPlugin(await readFile(file, 'utf8'), file)
    : await importNativePlugin(file);
  return validatePlugin(fields, file);
}

/** A native plugin exports its fields by name, or as one default-exported object. */
async function importNativePlugin(file: string): Promise<PluginFields> {
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(file).href) as Record<string, unknown>;
  } catch (err) {
    throw new PluginError(file, undefined, `cannot load module: ${(err as Error).message}`);
  }
  const exported = typeof module.default === 'object' && module.default !== null ? module.default as Record<string, unknown> : module;
  return { values: new Map(Object.entries(exported)), lines: new Map() };
}

function guessparserOverlaps(plugins: readonly DistributionPlugin[]): string[] {
  const bySource = new Map<string, DistributionPlugin[]>();
  for (const plugin of plugins) {
    if (!plugin.guessparser) continue;
    const key = `${plugin.guessparser.source}/${plugin.guessparser.flags}`;
    bySource.set(key, [...(bySource.get(key) ?? []), plugin]);
  }
  return [...bySource.values()]
    .filter((group) => group.length > 1)
    .map((group) => `plugins ${group.map((p) => p.distribution).join(', ')} share the guessparser /${group[0]?.guessparser?.source}/: `
      + `a package release matching it is attributed to ${group[0]?.distribution} (first in file-name order)`);
}

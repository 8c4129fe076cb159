// The dnf/yum INI keys reposync honours (SPEC §7.2), read from a plugin's dnfcfg and a repo's local cfg.
//
// Upstream passes these snippets to dnf as they are, so they come in three shapes: bare `key=value` lines (no
// section header at all), a `[main]` section, or one or more repo sections. All sections count; a later snippet
// (the repo's own cfg) wins over an earlier one (the plugin's), and within a snippet a later section wins.
import { ConfigError } from '../config/error.js';
import { parseIni, type IniValue } from '../config/ini.js';
import type { RepoOptions } from './types.js';

// dnf.conf(5) defaults; librepo caps parallel downloads at 20.
const DNF_DEFAULTS = { sslverify: true, timeoutSeconds: 30, retries: 10, maxParallelDownloads: 3 } as const;
const MAX_PARALLEL_DOWNLOADS = 20;

type Key = 'gpgcheck' | 'sslverify' | 'sslcacert' | 'proxy' | 'timeout' | 'retries' | 'max_parallel_downloads' | 'includepkgs' | 'exclude';
// `excludepkgs` is dnf's newer spelling of `exclude`.
const ALIASES: Readonly<Record<string, Key>> = { excludepkgs: 'exclude' };
const KEYS: ReadonlySet<string> = new Set<Key>(['gpgcheck', 'sslverify', 'sslcacert', 'proxy', 'timeout', 'retries', 'max_parallel_downloads', 'includepkgs', 'exclude']);

interface Found {
  readonly value: IniValue;
  readonly file: string;
  /** The line in the snippet as written (a header we added shifts parseIni's count by one). */
  readonly line: number;
}

export function parseRepoOptions(
  snippets: readonly (string | undefined)[],
  defaults: { readonly gpgcheck: boolean },
  file: string,
): { options: RepoOptions; ignored: string[] } {
  const found = new Map<Key, Found>();
  const ignored = new Set<string>();
  snippets.forEach((snippet, index) => {
    if (snippet === undefined) return;
    const source = snippets.length > 1 ? `${file} (snippet ${index + 1})` : file;
    const added = needsHeader(snippet) ? 1 : 0;
    const doc = parseIni(added ? `[main]\n${snippet}` : snippet, source);
    for (const options of [doc.defaults, ...[...doc.sections.values()].map((section) => section.options)]) {
      for (const [name, value] of options) {
        const key = ALIASES[name] ?? name;
        if (KEYS.has(key)) found.set(key as Key, { value, file: source, line: value.line - added });
        else ignored.add(value.name);
      }
    }
  });

  const read = <T>(key: Key, parse: (text: string) => T | undefined, expected: string): T | undefined => {
    const entry = found.get(key);
    if (entry === undefined) return undefined;
    const parsed = parse(entry.value.raw.trim());
    // A wrong value would silently change what the mirror trusts or how long it waits: refuse it.
    if (parsed === undefined) throw new ConfigError(entry.file, entry.line, `${entry.value.name} = ${JSON.stringify(entry.value.raw)}: expected ${expected}`);
    return parsed;
  };
  const count = (min: number) => (text: string) => (/^\d+$/.test(text) && Number(text) >= min ? Number(text) : undefined);

  let retries = read('retries', count(0), 'a whole number') ?? DNF_DEFAULTS.retries;
  if (retries === 0) {
    // dnf reads 0 as "retry forever", which would hang an unattended agent on a dead package.
    ignored.add('retries=0 (forever; using the default)');
    retries = DNF_DEFAULTS.retries;
  }
  const parallel = read('max_parallel_downloads', count(1), 'a whole number ≥ 1') ?? DNF_DEFAULTS.maxParallelDownloads;
  const options: RepoOptions = {
    gpgcheck: read('gpgcheck', parseBool, 'a boolean (1/0, yes/no, true/false, on/off)') ?? defaults.gpgcheck,
    sslverify: read('sslverify', parseBool, 'a boolean (1/0, yes/no, true/false, on/off)') ?? DNF_DEFAULTS.sslverify,
    sslcacert: read('sslcacert', (text) => text, 'a path') || undefined,
    // dnf spells "no proxy" `_none_` (or an empty value) so a repo can cancel a global one.
    proxy: read('proxy', (text) => (text === '_none_' ? '' : URL.canParse(text) || text === '' ? text : undefined), 'a URL such as http://host:3128') || undefined,
    timeoutSeconds: read('timeout', (text) => (/^\d+(\.\d+)?$/.test(text) && Number(text) > 0 ? Number(text) : undefined), 'seconds > 0') ?? DNF_DEFAULTS.timeoutSeconds,
    retries,
    maxParallelDownloads: Math.min(parallel, MAX_PARALLEL_DOWNLOADS),
    includepkgs: read('includepkgs', globList, 'globs') ?? [],
    exclude: read('exclude', globList, 'globs') ?? [],
  };
  return { options, ignored: [...ignored] };
}

/** configparser refuses options before any header; dnf snippets in plugins often have none. */
function needsHeader(snippet: string): boolean {
  const first = snippet.split(/\r?\n/).find((line) => line.trim() !== '' && !/^\s*[#;]/.test(line));
  return first !== undefined && !first.trim().startsWith('[');
}

function parseBool(text: string): boolean | undefined {
  const lowered = text.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(lowered)) return true;
  if (['0', 'no', 'false', 'off'].includes(lowered)) return false;
  return undefined;
}

/** dnf: a list separated by commas and/or whitespace (newlines of continuation lines too). */
function globList(text: string): string[] {
  return text.split(/[\s,]+/).filter((glob) => glob !== '');
}

// retrace-server.conf parsed once into typed values (SPEC §2). The rest of the agent reads
// `RetraceServerConfig`, never the INI text.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from './error.js';
import { interpolated, parseIni, type IniDocument } from './ini.js';
import { agentKeys, retraceKeys, type AgentSettingsRaw, type KeySpec, type RetraceSettings } from './schema.js';
import { parseReleaseId, type ReleaseId } from '../plugins/release.js';

export const DEFAULT_CONFIG_PATH = '/etc/retrace-server/retrace-server.conf';
export const CONFIG_PATH_ENV = 'RETRACE_SERVER_CONFIG_PATH';
export const GPG_DIR_ENV = 'RETRACE_SERVER_GPG_DIR';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface AgentSettings extends Omit<AgentSettingsRaw, 'listenAddress' | 'syncReleases'> {
  readonly listen: ListenAddress;
  readonly syncReleases: readonly ReleaseId[];
}

/** What upstream's check_config says about the task-age settings (retrace-server-cleanup). */
export interface CleanupPolicyCheck {
  /** Printed, and the run goes on. */
  readonly warnings: readonly string[];
  /** When set, no task may be deleted or archived; the CLI exits 1. */
  readonly deletionRefused: string | undefined;
}

export interface RetraceServerConfig {
  readonly file: string;
  readonly retrace: RetraceSettings;
  readonly agent: AgentSettings;
  /** [archhosts]: arch → host that runs tasks of that arch; empty values ignored. */
  readonly archHosts: ReadonlyMap<string, string>;
  readonly cleanupPolicy: CleanupPolicyCheck;
}

/** `--config` beats `$RETRACE_SERVER_CONFIG_PATH` beats the upstream default. */
export function resolveConfigPath(cliPath: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return cliPath ?? (env[CONFIG_PATH_ENV] || DEFAULT_CONFIG_PATH);
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): RetraceServerConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, undefined, code === 'ENOENT'
      ? `config file not found; pass --config FILE or set ${CONFIG_PATH_ENV}`
      : `cannot read config file: ${(err as Error).message}`);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): RetraceServerConfig {
  const doc = parseIni(text, file);
  if (!doc.sections.has('retrace')) {
    throw new ConfigError(file, undefined, 'no [retrace] section; expected the retrace-server.conf format with a [retrace] section');
  }
  const retrace = readSection(doc, 'retrace', retraceKeys);
  const rawAgent = doc.sections.has('agent') ? readSection(doc, 'agent', agentKeys) : defaultsOf(agentKeys);
  const gpgDir = env[GPG_DIR_ENV] || rawAgent.gpgDir;
  const { listenAddress, syncReleases, ...agentRest } = rawAgent;
  const agent: AgentSettings = {
    ...agentRest,
    gpgDir,
    listen: parseListenAddress(listenAddress, file, lineOf(doc, 'agent', agentKeys.listenAddress.name)),
    syncReleases: syncReleases.map((text) => {
      const release = parseReleaseId(text);
      if (!release) {
        throw new ConfigError(file, lineOf(doc, 'agent', agentKeys.syncReleases.name),
          `SyncReleases: '${text}' is not a release; expected DIST-VER-ARCH such as fedora-40-x86_64`);
      }
      return release;
    }),
  };
  return { file, retrace, agent, archHosts: readArchHosts(doc), cleanupPolicy: checkCleanupPolicy(retrace) };
}

/** Parses `HOST:PORT`, `[v6]:PORT`; used for ListenAddress and `--listen`. */
export function parseListenAddress(text: string, file: string, line?: number): ListenAddress {
  const match = /^(?:\[(?<v6>[^\]]+)\]|(?<host>[^:[\]]+)):(?<port>\d+)$/.exec(text.trim());
  const host = match?.groups?.v6 ?? match?.groups?.host;
  const port = Number(match?.groups?.port);
  if (!host || !Number.isInteger(port) || port > 65535 || (match?.groups?.v6 && isIP(host) !== 6)) {
    throw new ConfigError(file, line, `ListenAddress: '${text}' is not an address; expected HOST:PORT such as 127.0.0.1:9464 or [::1]:9464`);
  }
  return { host, port };
}

type Values<S extends Record<string, KeySpec<unknown>>> = { -readonly [K in keyof S]: S[K]['default'] };

function defaultsOf<S extends Record<string, KeySpec<unknown>>>(keys: S): Values<S> {
  return Object.fromEntries(Object.entries(keys).map(([prop, spec]) => [prop, spec.default])) as Values<S>;
}

function readSection<S extends Record<string, KeySpec<unknown>>>(doc: IniDocument, section: string, keys: S): Values<S> {
  const values = defaultsOf(keys) as Record<string, unknown>;
  for (const [prop, spec] of Object.entries(keys)) {
    const text = interpolated(doc, section, spec.name);
    if (text === undefined) continue;
    values[prop] = typedValue(text, spec, doc.file, lineOf(doc, section, spec.name));
  }
  return values as Values<S>;
}

const TRUE_WORDS = new Set(['1', 'yes', 'true', 'on']);
const FALSE_WORDS = new Set(['0', 'no', 'false', 'off']);

function typedValue(text: string, spec: KeySpec<unknown>, file: string, line: number | undefined): unknown {
  const bad = (expected: string): ConfigError => new ConfigError(file, line, `${spec.name}: '${text}' is not ${expected}`);
  switch (spec.type) {
    case 'int': {
      // Python's int() accepts surrounding blanks, a sign and underscores between digits.
      const trimmed = text.trim();
      if (!/^[+-]?\d+(?:_\d+)*$/.test(trimmed)) throw bad('an integer');
      const value = Number(trimmed.replaceAll('_', ''));
      if (!Number.isSafeInteger(value)) throw bad('an integer of a sensible size');
      if (spec.min !== undefined && value < spec.min) throw bad(`an integer of at least ${spec.min}`);
      return value;
    }
    case 'bool': {
      const word = text.trim().toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
      throw bad('a boolean; expected one of 1/yes/true/on or 0/no/false/off');
    }
    case 'list':
      return text.split(/\s+/).filter(Boolean);
    case 'string':
      return text;
  }
}

function lineOf(doc: IniDocument, section: string, key: string): number | undefined {
  const lowered = key.toLowerCase();
  return doc.sections.get(section)?.options.get(lowered)?.line ?? doc.defaults.get(lowered)?.line;
}

function readArchHosts(doc: IniDocument): ReadonlyMap<string, string> {
  const hosts = new Map<string, string>();
  const section = doc.sections.get('archhosts');
  if (!section) return hosts;
  for (const [arch, value] of section.options) {
    const host = (interpolated(doc, 'archhosts', value.name) ?? '').trim();
    if (host) hosts.set(arch, host);
  }
  return hosts;
}

/** upstream check_config(), with its texts. */
export function checkCleanupPolicy(retrace: Pick<RetraceSettings, 'deleteTaskAfter' | 'archiveTaskAfter' | 'deleteFailedTaskAfter'>): CleanupPolicyCheck {
  const warnings: string[] = [];
  const { deleteTaskAfter, archiveTaskAfter, deleteFailedTaskAfter } = retrace;
  if (deleteTaskAfter > 0 && archiveTaskAfter > 0) {
    const winner = deleteTaskAfter < archiveTaskAfter ? 'deleting' : 'archiving';
    warnings.push('WARNING: Both DeleteTaskAfter and ArchiveTaskAfter are enabled, however they are mutually exclusive '
      + `settings. With your current settings only ${winner} will take place. Please check retrace-server.conf and `
      + 'disable either DeleteTaskAfter or ArchiveTaskAfter by setting its value to 0.');
  }
  const deletionRefused = deleteFailedTaskAfter > 0 && deleteTaskAfter > 0 && deleteTaskAfter < deleteFailedTaskAfter
    ? 'ERROR: DeleteTaskAfter is set to a lower value than DeleteFailedTaskAfter. Check retrace-server.conf, did you '
      + 'accidentally reverse the values for DeleteTaskAfter and DeleteFailedTaskAfter? Not touching any tasks.'
    : undefined;
  return { warnings, deletionRefused };
}

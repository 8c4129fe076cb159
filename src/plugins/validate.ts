// Turns the names a plugin file defines (from a Python plugin read as data, or a native module's
// exports) into a typed DistributionPlugin, or a PluginError that names file, line and field.

import { PluginError } from './error.js';
import type { DistributionPlugin, RepoSpec } from './types.js';

export interface PluginFields {
  readonly values: ReadonlyMap<string, unknown>;
  /** Line of each field's definition, where known (Python files). */
  readonly lines: ReadonlyMap<string, number>;
}

const DISTRIBUTION_RE = /^[A-Za-z0-9]+$/;

export function validatePlugin({ values, lines }: PluginFields, file: string): DistributionPlugin {
  const fail = (field: string, detail: string): never => {
    throw new PluginError(file, lines.get(field), `${field}: ${detail}`);
  };
  const optionalString = (field: string): string | undefined => {
    const value = values.get(field);
    if (value === undefined || value === null) return undefined;
    return typeof value === 'string' ? value : fail(field, `expected a string, found ${describe(value)}`);
  };
  const stringList = (field: string): string[] | undefined => {
    const value = values.get(field);
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
      return fail(field, `expected a list of strings, found ${describe(value)}`);
    }
    return [...value];
  };
  const regex = (field: string): RegExp | undefined => {
    const value = values.get(field);
    if (value === undefined || value === null) return undefined;
    if (value instanceof RegExp) return value;
    if (typeof value === 'string') {
      try {
        return new RegExp(value);
      } catch (err) {
        return fail(field, `'${value}' is not a valid regular expression: ${(err as Error).message}`);
      }
    }
    return fail(field, `expected re.compile(r"...") or a RegExp, found ${describe(value)}`);
  };

  const distribution = values.get('distribution');
  if (distribution === undefined) fail('distribution', 'missing; every plugin must define distribution = "name"');
  if (typeof distribution !== 'string' || !DISTRIBUTION_RE.test(distribution)) {
    fail('distribution', `${describe(distribution)} is not a valid name; expected letters and digits only, such as "fedora"`);
  }
  if (!values.has('repos')) fail('repos', 'missing; every plugin must define repos = [[mirror, ...], ...]');

  return {
    distribution: distribution as string,
    repos: readRepos(values.get('repos'), (detail) => fail('repos', detail)),
    abrtparser: regex('abrtparser'),
    guessparser: regex('guessparser'),
    dnfcfg: optionalString('dnfcfg') ?? optionalString('yumcfg'),
    displayrelease: optionalString('displayrelease'),
    versionlist: stringList('versionlist'),
    gdbPackage: optionalString('gdb_package'),
    gdbExecutable: optionalString('gdb_executable'),
    gpgKeys: stringList('gpg_keys') ?? [],
    file,
  };
}

/** repos = [ [mirror, ...] | ([mirror, ...], "local cfg"), ... ] */
function readRepos(value: unknown, fail: (detail: string) => never): RepoSpec[] {
  if (!Array.isArray(value)) return fail(`expected a list of repos, found ${describe(value)}`);
  return value.map((entry: unknown, index): RepoSpec => {
    const where = `repo ${index + 1}`;
    if (!Array.isArray(entry)) {
      // Upstream would iterate a bare string character by character.
      return fail(`${where}: expected a list of mirrors or a (mirrors, config) pair, found ${describe(entry)}`);
    }
    if (entry.length === 2 && Array.isArray(entry[0]) && typeof entry[1] === 'string') {
      return { mirrors: mirrorList(entry[0], where, fail), localConfig: entry[1] };
    }
    return { mirrors: mirrorList(entry, where, fail), localConfig: undefined };
  });
}

function mirrorList(value: readonly unknown[], where: string, fail: (detail: string) => never): string[] {
  const bad = value.find((mirror) => typeof mirror !== 'string' || mirror.trim() === '');
  if (bad !== undefined) fail(`${where}: every mirror must be a non-empty string, found ${describe(bad)}`);
  return value as string[];
}

function describe(value: unknown): string {
  if (value === null) return 'None';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof RegExp) return `a regex /${value.source}/`;
  if (typeof value === 'string') return `'${value}'`;
  return `a ${typeof value}`;
}

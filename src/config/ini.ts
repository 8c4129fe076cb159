// A reader for the INI dialect of Python's configparser (ConfigParser with its defaults), so an
// upstream retrace-server.conf reads exactly as the Python server reads it.
// https://docs.python.org/3/library/configparser.html#supported-ini-file-structure

import { ConfigError } from './error.js';

export interface IniValue {
  /** The value before interpolation, continuation lines joined with "\n". */
  readonly raw: string;
  /** Line of the `key = value` line. */
  readonly line: number;
  /** The option name as written (configparser lowercases it for lookup). */
  readonly name: string;
}

export interface IniSection {
  readonly name: string;
  readonly line: number;
  /** Options by lower-cased name. */
  readonly options: ReadonlyMap<string, IniValue>;
}

export interface IniDocument {
  readonly file: string;
  /** Sections by name (section names are case-sensitive in configparser). */
  readonly sections: ReadonlyMap<string, IniSection>;
  /** The DEFAULT section's options, visible from every section. */
  readonly defaults: ReadonlyMap<string, IniValue>;
}

const DEFAULT_SECTION = 'DEFAULT';
const SECTION_RE = /^\[(?<name>[^\]]+)\]/;
// configparser: the first `=` or `:` splits; the key is everything before it, stripped.
const OPTION_RE = /^(?<key>.*?)\s*(?<delim>[=:])\s*(?<value>.*)$/;
const MAX_INTERPOLATION_DEPTH = 10;

interface Pending {
  section: Map<string, IniValue>;
  key: string;
  name: string;
  line: number;
  indent: number;
  lines: string[];
}

export function parseIni(text: string, file: string): IniDocument {
  const sections = new Map<string, IniSection>();
  const defaults = new Map<string, IniValue>();
  let current: Map<string, IniValue> | undefined;
  let pending: Pending | undefined;

  const flush = (): void => {
    if (!pending) return;
    // Trailing empty continuation lines are dropped, as configparser does.
    while (pending.lines.length > 1 && pending.lines.at(-1) === '') pending.lines.pop();
    pending.section.set(pending.key, { raw: pending.lines.join('\n'), line: pending.line, name: pending.name });
    pending = undefined;
  };

  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i] ?? '';
    const stripped = line.trim();
    const indent = line.length - line.trimStart().length;

    if (stripped.startsWith('#') || stripped.startsWith(';')) continue;
    if (stripped === '') {
      // An empty line inside a value is kept (empty_lines_in_values=True) unless the value ends.
      if (pending) pending.lines.push('');
      continue;
    }
    if (pending && indent > pending.indent) {
      pending.lines.push(stripped);
      continue;
    }
    flush();

    const sectionMatch = SECTION_RE.exec(stripped);
    if (sectionMatch?.groups) {
      const name = sectionMatch.groups.name ?? '';
      if (name === DEFAULT_SECTION) {
        current = defaults;
        continue;
      }
      if (sections.has(name)) {
        throw new ConfigError(file, lineNo, `section [${name}] appears twice (first at line ${sections.get(name)?.line})`);
      }
      const options = new Map<string, IniValue>();
      sections.set(name, { name, line: lineNo, options });
      current = options;
      continue;
    }
    if (!current) {
      throw new ConfigError(file, lineNo, `'${stripped}' comes before any [section] header; expected a header such as [retrace]`);
    }
    const optionMatch = OPTION_RE.exec(stripped);
    const key = optionMatch?.groups?.key ?? '';
    if (!optionMatch?.groups || key === '') {
      throw new ConfigError(file, lineNo, `'${stripped}' is not an option line; expected 'Name = value'`);
    }
    const lowered = key.toLowerCase();
    if (current.has(lowered)) {
      throw new ConfigError(file, lineNo, `option '${key}' appears twice in this section (first at line ${current.get(lowered)?.line})`);
    }
    pending = { section: current, key: lowered, name: key, line: lineNo, indent, lines: [optionMatch.groups.value ?? ''] };
  }
  flush();
  return { file, sections, defaults };
}

/** Raw value of an option, looking in DEFAULT too, as configparser does. */
function lookup(doc: IniDocument, section: string, key: string): IniValue | undefined {
  return doc.sections.get(section)?.options.get(key.toLowerCase()) ?? doc.defaults.get(key.toLowerCase());
}

/** The value of `section.key` with `%(name)s` interpolation (configparser's BasicInterpolation). */
export function interpolated(doc: IniDocument, section: string, key: string): string | undefined {
  const value = lookup(doc, section, key);
  if (!value) return undefined;
  return interpolate(doc, section, value, 1);
}

function interpolate(doc: IniDocument, section: string, value: IniValue, depth: number): string {
  if (depth > MAX_INTERPOLATION_DEPTH) {
    throw new ConfigError(doc.file, value.line, `interpolation of '${value.name}' nests deeper than ${MAX_INTERPOLATION_DEPTH} levels (a reference loop?)`);
  }
  let out = '';
  const raw = value.raw;
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i];
    if (ch !== '%') {
      out += ch;
      continue;
    }
    const next = raw[i + 1];
    if (next === '%') {
      out += '%';
      i++;
      continue;
    }
    const ref = /^\(([^)]+)\)s/.exec(raw.slice(i + 1));
    if (next !== '(' || !ref) {
      throw new ConfigError(doc.file, value.line, `'%' in the value of '${value.name}' must be followed by '%' or '(name)s', found '${raw.slice(i, i + 8)}'; write '%%' for a literal percent sign`);
    }
    const refName = ref[1] ?? '';
    const target = lookup(doc, section, refName);
    if (!target) {
      throw new ConfigError(doc.file, value.line, `the value of '${value.name}' refers to '%(${refName})s', but [${section}] has no option '${refName}'`);
    }
    out += interpolate(doc, section, target, depth + 1);
    i += ref[0].length;
  }
  return out;
}

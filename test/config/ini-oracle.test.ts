// Python's configparser is the reference: the same texts must give the same sections, options
// and interpolated values, or both must reject the text.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { interpolated, parseIni } from '../../src/config/ini.js';

const PYTHON_DUMP = `
import configparser, json, sys
p = configparser.ConfigParser()
try:
    p.read_string(sys.stdin.read())
    print(json.dumps({s: {k: p.get(s, k) for k in p.options(s)} for s in p.sections()}))
except configparser.Error as e:
    print(json.dumps({"error": type(e).__name__}))
`;

function pythonView(text: string): unknown {
  return JSON.parse(execFileSync('python3', ['-c', PYTHON_DUMP], { input: text, encoding: 'utf8' }));
}

function ourView(text: string): unknown {
  try {
    const doc = parseIni(text, 'f');
    const keys = (section: string): string[] => [...new Set([
      ...(doc.sections.get(section)?.options.keys() ?? []),
      ...doc.defaults.keys(),
    ])];
    return Object.fromEntries([...doc.sections.keys()].map((section) => [
      section,
      Object.fromEntries(keys(section).map((key) => [key, interpolated(doc, section, key)])),
    ]));
  } catch {
    return { error: 'rejected' };
  }
}

const TEXTS: Record<string, string> = {
  'the upstream-format fixture': readFileSync(join(import.meta.dirname, 'fixtures', 'retrace-server.conf'), 'utf8'),
  'continuations and blank lines': '[a]\nk = one\n  two\n\n  three\n\n\nm = x\n',
  'indented section header': '[a]\nk = 1\n  [b]\nj = 2\n',
  'colon and equals': '[a]\nk: v = w\nj = v: w\n',
  'DEFAULT section': '[DEFAULT]\nroot = /r\n[a]\nk = %(root)s/x\n[b]\nj = y\n',
  'empty values': '[a]\nk =\nj = \n',
  'CRLF line ends': '[a]\r\nk = v\r\n',
};

const REJECTED: Record<string, string> = {
  'duplicate option': '[a]\nk = 1\nK = 2\n',
  'no section': 'k = 1\n',
  'bad interpolation': '[a]\nk = %(missing)s\n',
};

describe('INI reader agrees with Python configparser', () => {
  it.each(Object.entries(TEXTS))('%s', (_name, text) => {
    expect(ourView(text)).toEqual(pythonView(text));
  });

  it.each(Object.entries(REJECTED))('both reject: %s', (_name, text) => {
    expect(pythonView(text)).toHaveProperty('error');
    expect(ourView(text)).toHaveProperty('error');
  });
});

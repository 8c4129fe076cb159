import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PluginError } from '../../src/plugins/error.js';
import { readPythonPlugin } from '../../src/plugins/python-plugin.js';
import { translatePythonRegex } from '../../src/plugins/python-regex.js';

// Python's re flag values.
const I = 2;
const M = 8;
const S = 16;
const X = 64;
const U = 32;
const A = 256;

const translate = (pattern: string, flags?: number): RegExp => translatePythonRegex(pattern, flags, 'plugin.py', 7);

/** Python's re.search result: the whole match and the groups, null for a group that did not take part. */
function search(pattern: string, flags: number | undefined, text: string): (string | null)[] | null {
  const match = translate(pattern, flags).exec(text);
  return match ? [...match].map((group) => group ?? null) : null;
}

/** Python's re.match: anchored at the start, not at the end. */
function pythonMatch(regex: RegExp, text: string): RegExpExecArray | null {
  return new RegExp(regex.source, `${regex.flags}y`).exec(text);
}

function errorOf(pattern: string, flags?: number): PluginError {
  try {
    translate(pattern, flags);
  } catch (err) {
    if (err instanceof PluginError) return err;
    throw err;
  }
  throw new Error(`expected a PluginError for ${pattern}`);
}

describe('translatePythonRegex: matches what Python matches', () => {
  // [pattern, flags, text, what Python 3.11's re.search(pattern, text, flags) returns]
  const cases: [string, number | undefined, string, (string | null)[] | null][] = [
    ["(?P<ver>\\d+)", undefined, "fc40", ["40", "40"]],
    ["(?P<a>x)(?P=a)", undefined, "axx", ["xx", "x"]],
    ["(?P<a>x)(?P=a)", undefined, "xy", null],
    ["(?P<first>\\w+) (?P<last>\\w+)", undefined, "Jane Doe", ["Jane Doe", "Jane", "Doe"]],
    ["(?i)fedora", undefined, "FEDORA", ["FEDORA"]],
    ["fedora", I, "Fedora", ["Fedora"]],
    ["(?i:a)b", undefined, "Ab", ["Ab"]],
    ["(?i:a)b", undefined, "AB", null],
    ["(?-i:a)b", I, "aB", ["aB"]],
    ["(?-i:a)b", I, "AB", null],
    ["a.c", undefined, "a\nc", null],
    ["a.c", S, "a\nc", ["a\nc"]],
    ["(?s)a.c", undefined, "a\nc", ["a\nc"]],
    ["(?s:a.)c", undefined, "a\nc", ["a\nc"]],
    ["(?s:a).c", undefined, "a\nc", null],
    ["a.c", undefined, "a\rc", ["a\rc"]],
    ["a.c", undefined, "a\u2028c", ["a\u2028c"]],
    ["^.*$", undefined, "a\rb", ["a\rb"]],
    ["^b", M, "a\nb", ["b"]],
    ["^b", undefined, "a\nb", null],
    ["(?m)^b", undefined, "a\rb", null],
    ["(?m:^b)", undefined, "a\nb", ["b"]],
    ["(?m)a$", undefined, "a\nb", ["a"]],
    ["(?m)a$", undefined, "a\rb", null],
    ["a$", undefined, "a\n", ["a"]],
    ["a$", undefined, "a\n\n", null],
    ["a$", undefined, "a\nb", null],
    ["a\\Z", undefined, "a\n", null],
    ["a\\Z", M, "a", ["a"]],
    ["\\Ab", M, "a\nb", null],
    ["^a", undefined, "ba", null],
    ["(?x) a b  # comment\n c", undefined, "abc", ["abc"]],
    ["(?x)[ #]+a", undefined, " #a", [" #a"]],
    ["(?x)a\\ b\\#", undefined, "a b#", ["a b#"]],
    ["(?x)a{2} b", undefined, "aab", ["aab"]],
    ["(?x: a b ) c", undefined, "ab c", ["ab c"]],
    ["a b", X, "ab", ["ab"]],
    ["a{,2}b", undefined, "aaab", ["aab"]],
    ["a{2}", undefined, "aaa", ["aa"]],
    ["a{1,}?", undefined, "aaa", ["a"]],
    ["a{", undefined, "a{", ["a{"]],
    ["x{a}", undefined, "x{a}", ["x{a}"]],
    ["a{}", undefined, "a{}", ["a{}"]],
    ["a{1,2", undefined, "a{1,2", ["a{1,2"]],
    ["a}]", undefined, "a}]", ["a}]"]],
    ["[]a]+", undefined, "x]a]", ["]a]"]],
    ["[^]a]", undefined, "]b", ["b"]],
    ["[a-]+", undefined, "-a", ["-a"]],
    ["[\\d-]+", undefined, "1-2", ["1-2"]],
    ["[\\w.-]+", undefined, "=a.b-c=", ["a.b-c"]],
    ["[[]", undefined, "[", ["["]],
    ["[\\]\\\\^]+", undefined, "]\\^", ["]\\^"]],
    ["\\-\\:\\@\\/\\ \\'", undefined, "-:@/ '", ["-:@/ '"]],
    ["\\x41\\u00e9\\U0001F600", undefined, "Aé😀", ["Aé😀"]],
    ["\\101\\0", undefined, "A\u0000", ["A\u0000"]],
    ["[\\101]", undefined, "A", ["A"]],
    ["[\\b]", undefined, "\b", ["\b"]],
    ["\\a\\f\\t\\n\\r\\v", undefined, "\u0007\f\t\n\r\u000b", ["\u0007\f\t\n\r\u000b"]],
    ["(a)\\1", undefined, "aa", ["aa", "a"]],
    ["(?x)(a)\\1 0", undefined, "aa0", ["aa0", "a"]],
    ["\\bfc\\b", undefined, "a fc b", ["fc"]],
    ["\\Bc", undefined, "abc", ["c"]],
    ["(?=a)*b", undefined, "b", ["b"]],
    ["x(?<=x)+", undefined, "x", ["x"]],
    ["a*?b", undefined, "aab", ["aab"]],
    ["<.+?>", undefined, "<a><b>", ["<a>"]],
    ["\\.el(\\d+)", undefined, "kernel-5.14.0-427.el9.x86_64", [".el9", "9"]],
    ["(?#comment)a", undefined, "a", ["a"]],
    ["a(?#c)+", undefined, "aa", ["aa"]],
    ["é+", undefined, "ééx", ["éé"]],
    ["😀{2}", undefined, "😀😀", ["😀😀"]],
    ["[😀-😂]", undefined, "😁", ["😁"]],
    ["(?i)[a-z]+", undefined, "ABC", ["ABC"]],
    ["a|b|", undefined, "c", [""]],
    ["(a)|b", undefined, "b", ["b", null]],
    ["(?:a|(b))+", undefined, "ab", ["ab", "b"]],
    ["(?<!a)b", undefined, "ab cb", ["b"]],
    ["(?<=a)b", undefined, "cb ab", ["b"]],
    ["a(?!b)", undefined, "ab ac", ["a"]],
    ["\\s+", undefined, "a \t\nb", [" \t\n"]],
  ];

  it.each(cases)('%j with flags %j on %j', (pattern, flags, text, expected) => {
    expect(search(pattern, flags, text)).toEqual(expected);
  });
});

describe('translatePythonRegex: the JS it produces', () => {
  it('turns named groups and their references into JS syntax', () => {
    const regex = translate('(?P<major>\\d+)\\.(?P=major)');
    expect(regex.source).toBe('(?<major>\\d+)\\.\\k<major>');
    expect(regex.exec('9.9')?.groups).toEqual({ major: '9' });
  });

  it('always compiles with the u flag, and maps ignore-case to the i flag', () => {
    expect(translate('a').flags).toBe('u');
    expect(translate('a', I).flags).toBe('iu');
    expect(translate('(?i)a').flags).toBe('iu');
    expect(translate('a', I | M | S | X | U).flags).toBe('iu');
    expect(translate('a', A).flags).toBe('u');
  });

  it('spells out anchors and dot instead of using the JS m and s flags', () => {
    expect(translate('^a.$').source).toBe('^a[^\\n](?=\\n?$)');
    expect(translate('^a.$', M | S).source).toBe('(?<=^|\\n)a[\\s\\S](?=\\n|$)');
    expect(translate('\\Aa\\Z', M).source).toBe('^a$');
  });

  it('keeps a regex usable as a global or sticky JS regex', () => {
    const regex = translate('\\.fc(\\d+)');
    expect([...'a.fc39 b.fc40'.matchAll(new RegExp(regex.source, `${regex.flags}g`))].map((m) => m[1])).toEqual(['39', '40']);
  });

  // A documented difference: \d, \w and \b stay ASCII (release strings and NVRs are ASCII).
  it('keeps \\d and \\w ASCII, where Python would also match other scripts', () => {
    expect(translate('^\\d+$').test('٤٠')).toBe(false);
    expect(translate('^\\w+$').test('é')).toBe(false);
    expect(translate('^\\s+$').test('\u3000')).toBe(true);
  });
});

describe('translatePythonRegex: errors', () => {
  // [pattern, flags, text the message holds]
  const cases: [string, number | undefined, string][] = [
    ['(?>a)', undefined, 'atomic groups (?>...) are not supported by JavaScript'],
    ['a*+', undefined, 'possessive quantifiers'],
    ['a{1,2}+', undefined, 'possessive quantifiers'],
    ['(a)(?(1)a|b)', undefined, 'conditional groups'],
    ['\\N{EM DASH}', undefined, 'named Unicode escapes'],
    ['\\p{L}', undefined, 'bad escape \\p'],
    ['(?<n>a)', undefined, 'unknown extension ?<n (Python names groups with (?P<name>...))'],
    ['(?P<1>a)', undefined, "bad character in group name '1'"],
    ['(?P<n>a)(?P<n>b)', undefined, "redefinition of group name 'n' as group 2; was group 1"],
    ['(?P=x)', undefined, "unknown group name 'x'"],
    ['(?P<n>a(?P=n))', undefined, 'cannot refer to an open group'],
    ['(?Px)', undefined, 'unknown extension ?Px'],
    ['(a\\1)', undefined, 'cannot refer to an open group'],
    ['\\2', undefined, 'invalid group reference 2'],
    ['(a)\\10', undefined, 'invalid group reference 10'],
    ['a(?i)', undefined, 'global flags not at the start of the expression'],
    ['a|(?i)b', undefined, 'global flags not at the start of the expression'],
    ['(?L)a', undefined, "cannot use 'L' flag with a str pattern"],
    ['(?au)a', undefined, "flags 'a', 'u' and 'L' are incompatible"],
    ['(?i-i:a)', undefined, 'flag turned on and off'],
    ['(?-i)a', undefined, 'missing :'],
    ['(?-:a)', undefined, 'missing flag'],
    ['(?i', undefined, 'missing -, : or )'],
    ['(?', undefined, 'unexpected end of pattern'],
    ['(?z)', undefined, 'unknown extension ?z'],
    ['(?)', undefined, 'unknown extension ?)'],
    ['*a', undefined, 'nothing to repeat'],
    ['a|*', undefined, 'nothing to repeat'],
    ['^*', undefined, 'nothing to repeat'],
    ['\\b+', undefined, 'nothing to repeat'],
    ['a**', undefined, 'multiple repeat'],
    ['a{3,2}', undefined, 'min repeat greater than max repeat'],
    ['(a', undefined, 'missing ), unterminated subpattern'],
    ['a)', undefined, 'unbalanced parenthesis'],
    ['(?#abc', undefined, 'missing ), unterminated comment'],
    ['[a', undefined, 'unterminated character set'],
    ['[z-a]', undefined, 'bad character range z-a'],
    ['[\\d-z]', undefined, 'bad character range \\d-z'],
    ['[a-\\d]', undefined, 'bad character range a-\\d'],
    ['a\\', undefined, 'bad escape (end of pattern)'],
    ['\\q', undefined, 'bad escape \\q'],
    ['[\\8]', undefined, 'bad escape \\8'],
    ['\\x4', undefined, 'incomplete escape \\x4'],
    ['\\U00110000', undefined, 'bad escape \\U00110000'],
    ['\\400', undefined, 'octal escape value \\400 outside of range 0-0o377'],
    ['a', 4, 'unsupported flags 4'],
    ['a', 128, 'unsupported flags 128'],
    ['a', A | U, 'ASCII and UNICODE flags are incompatible'],
  ];

  it.each(cases)('%j with flags %j', (pattern, flags, message) => {
    const err = errorOf(pattern, flags);
    expect(err.file).toBe('plugin.py');
    expect(err.line).toBe(7);
    expect(err.detail).toContain(`regular expression ${JSON.stringify(pattern)}: `);
    expect(err.detail).toContain(message);
  });

  it('says where in the pattern the problem is', () => {
    expect(errorOf('ab)').detail).toMatch(/unbalanced parenthesis at position 2$/);
  });
});

describe('translatePythonRegex: plugin regexes on real release strings', () => {
  const fixture = (name: string): ReadonlyMap<string, unknown> => {
    const file = fileURLToPath(new URL(`./fixtures/python/${name}.py`, import.meta.url));
    return readPythonPlugin(readFileSync(file, 'utf8'), file).values;
  };
  const plugins = ['fedora', 'rhel', 'centos', 'legacy-fedora'].map((name) => {
    const values = fixture(name);
    return { name, abrtparser: values.get('abrtparser') as RegExp, guessparser: values.get('guessparser') as RegExp };
  });

  /** Each plugin whose abrtparser matches `release` as Python's re.match does, to group 1. */
  const parse = (release: string): Record<string, string | undefined> =>
    Object.fromEntries(plugins.flatMap(({ name, abrtparser }) => {
      const match = pythonMatch(abrtparser, release);
      return match ? [[name, match[1]]] : [];
    }));

  // [os_release line, what Python's re.match(abrtparser, line).group(1) gives per plugin]
  const releases: [string, Record<string, string>][] = [
    ['Fedora release 40 (Forty)', { fedora: '40', 'legacy-fedora': '40' }],
    ['Fedora release 39 (Thirty Nine)', { fedora: '39', 'legacy-fedora': '39' }],
    ['Fedora release 41 (Rawhide)', { fedora: '41', 'legacy-fedora': '41' }],
    ['Fedora release 40 (Forty)\n', { fedora: '40', 'legacy-fedora': '40' }],
    ['Red Hat Enterprise Linux Server release 7.9 (Maipo)', { rhel: '7' }],
    ['Red Hat Enterprise Linux release 8.10 (Ootpa)', { rhel: '8' }],
    ['Red Hat Enterprise Linux release 9.4 (Plow)', { rhel: '9' }],
    ['Red Hat Enterprise Linux release 9 (Plow)', { rhel: '9' }],
    ['CentOS Linux release 7.9.2009 (Core)', { centos: '7' }],
    ['CentOS release 6.10 (Final)', { centos: '6' }],
    ['CentOS Stream release 9', { centos: '9' }],
    ['CentOS Stream release 9\n', { centos: '9' }],
    ['Ubuntu 22.04.4 LTS', {}],
    ['Debian GNU/Linux 12 (bookworm)', {}],
    ['Rocky Linux release 9.4 (Blue Onyx)', {}],
    ['AlmaLinux release 9.4 (Seafoam Ocelot)', {}],
    ['Fedora release rawhide (Rawhide)', {}],
    ['Fedora release 40 (Forty) extra', {}],
    ['fedora release 40 (Forty)', {}],
    ['Red Hat Enterprise Linux release 9.4', {}],
    ['', {}],
  ];

  it.each(releases)('%j', (release, expected) => {
    expect(parse(release)).toEqual(expected);
  });

  // [package NVR, what Python's guessparser.search(nvr).group(1) gives per plugin]
  const packages: [string, Record<string, string>][] = [
    ['bash-5.2.26-3.fc40.x86_64', { fedora: '40', 'legacy-fedora': '40' }],
    ['kernel-5.14.0-427.el9.x86_64', { rhel: '9', centos: '9' }],
    ['glibc-2.17-326.el7_9.x86_64', { rhel: '7', centos: '7' }],
    ['foo-1.0-1.x86_64', {}],
  ];

  it.each(packages)('%j', (nvr, expected) => {
    const guessed = Object.fromEntries(plugins.flatMap(({ name, guessparser }) => {
      const match = guessparser.exec(nvr);
      return match ? [[name, match[1]]] : [];
    }));
    expect(guessed).toEqual(expected);
  });
});

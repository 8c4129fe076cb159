import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PluginError } from '../../src/plugins/error.js';
import { readPythonPlugin, type PythonPluginValues } from '../../src/plugins/python-plugin.js';

const FIXTURES = new URL('./fixtures/python/', import.meta.url);

function readFixture(name: string): PythonPluginValues {
  const file = fileURLToPath(new URL(name, FIXTURES));
  return readPythonPlugin(readFileSync(file, 'utf8'), file);
}

/** The value `source` assigns to `x`. */
function valueOf(source: string): unknown {
  const { values } = readPythonPlugin(source, 'test.py');
  expect(values.has('x')).toBe(true);
  return values.get('x');
}

/** The PluginError `source` is rejected with. */
function errorOf(source: string): PluginError {
  try {
    readPythonPlugin(source, 'test.py');
  } catch (err) {
    if (err instanceof PluginError) return err;
    throw err;
  }
  throw new Error('expected a PluginError, but the source was accepted');
}

/** A RegExp as plain data, to compare with toEqual. */
function regexOf(value: unknown): { source: string; flags: string } {
  expect(value).toBeInstanceOf(RegExp);
  const regex = value as RegExp;
  return { source: regex.source, flags: regex.flags };
}

const ONLY_LITERALS = 'a plugin file may only import modules and assign literals';

describe('readPythonPlugin: plugin files', () => {
  it('reads a Fedora plugin in the upstream style, tuple repo and dnf config included', () => {
    const { values, lines } = readFixture('fedora.py');
    expect(values.get('distribution')).toBe('fedora');
    expect(values.get('displayrelease')).toBe('Fedora release');
    expect(values.get('gdb_package')).toBe('gdb');
    expect(values.get('gdb_executable')).toBe('/usr/bin/gdb');
    expect(values.get('versionlist')).toEqual(['fc1', 'fc2']);
    expect(values.get('gpg_keys')).toEqual(['/usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-{release}-primary']);
    expect(values.get('repos')).toEqual([
      [
        'rsync://dl.fedoraproject.org/fedora-enchilada/linux/releases/$VER/Everything/$ARCH/os/Packages/*/*.rpm',
        '/srv/mirror/fedora/$VER/$ARCH',
      ],
      [['rsync://example.org/updates/$VER/$ARCH/'], '[main]\ngpgcheck=1\n'],
    ]);
    expect(regexOf(values.get('guessparser'))).toEqual({ source: String.raw`\.fc([0-9]+)`, flags: 'u' });
    expect((values.get('abrtparser') as RegExp).exec('Fedora release 40 (Forty)')?.[1]).toBe('40');
    expect(lines.get('distribution')).toBe(4);
    expect(lines.get('repos')).toBe(19);
    expect([...values.keys()].sort()).toEqual([
      'abrtparser', 'displayrelease', 'distribution', 'gdb_executable', 'gdb_package', 'gpg_keys', 'guessparser', 'repos', 'versionlist',
    ]);
  });

  it('reads the annotated `repos: List[List[str]] = [[]]` of the RHEL and CentOS plugins', () => {
    for (const name of ['rhel.py', 'centos.py']) {
      const { values } = readFixture(name);
      expect(values.get('repos')).toEqual([[]]);
      expect(values.get('guessparser')).toBeInstanceOf(RegExp);
    }
    expect(readFixture('centos.py').values.get('versionlist')).toEqual(['el7', 'el8', 'el9']);
    expect(readFixture('rhel.py').values.get('gdb_package')).toBe('devtoolset-8-gdb');
  });

  it('reads old plugins whose regexes are non-raw strings with "\\(" escapes', () => {
    const legacy = readFixture('legacy-fedora.py').values;
    const current = readFixture('fedora.py').values;
    expect(regexOf(legacy.get('abrtparser'))).toEqual(regexOf(current.get('abrtparser')));
    expect(regexOf(legacy.get('guessparser'))).toEqual(regexOf(current.get('guessparser')));
    expect((legacy.get('repos') as unknown[]).length).toBe(2);
  });

  it('keeps the last assignment of a name, and its line', () => {
    const { values, lines } = readFixture('brief-example.py');
    expect(values.get('repos')).toEqual([[]]);
    expect(lines.get('repos')).toBe(26);
    expect((values.get('abrtparser') as RegExp).test('Red Hat Enterprise Linux release 9.4 (Plow)')).toBe(true);
    expect(lines.get('abrtparser')).toBe(27);
  });

  it('reads every accepted construct as Python does', () => {
    const { values, lines } = readFixture('every-construct.py');
    // Each expectation is what Python 3 binds when it runs the file.
    const expected: Record<string, unknown> = {
      single: 'its',
      double: 'say "hi"\t\\',
      triple_single: 'line 1\nline 2',
      triple_double: '[main]\ngpgcheck=1\n',
      raw: String.raw`\.fc(\d+)\n`,
      raw_upper: String.raw`\d`,
      unicode_prefix: 'café é 😀 A\0',
      unknown_escape: String.raw`\.el`,
      continued_string: 'abcdef',
      concatenated: String.raw`ab\c`,
      spanning: 'first second',
      integer: 1000,
      negative: -42,
      signs: 7,
      hexadecimal: 255,
      octal: 15,
      binary: 10,
      floating: 1.05,
      point: 0.5,
      trailing_point: 1,
      flags: [true, false, null],
      empty_list: [],
      empty_tuple: [],
      one_tuple: ['x'],
      parenthesized: 'x',
      nested: [[], ['a', ['b', 'c']], [[]]],
      bare_tuple: ['a', 'b'],
      continued: 'after a backslash',
      semicolons: 1,
      also: 2,
      annotated: [[]],
      quoted_annotation: null,
      union: 3,
      callable_annotation: 'c',
      café: 'unicode name',
      redefined: 'second',
    };
    for (const [name, value] of Object.entries(expected)) expect(values.get(name), name).toEqual(value);
    expect(regexOf(values.get('ignore_case')).flags).toBe('iu');
    expect((values.get('ignore_case') as RegExp).test('x\nFEDORA\ny')).toBe(true);
    expect((values.get('keywords') as RegExp).exec('12.12')?.groups?.major).toBe('12');
    expect((values.get('verbose') as RegExp).exec('8.10')?.slice(1)).toEqual(['8', '10']);
    // Imports and bare annotations bind nothing the plugin defines.
    for (const name of ['os', 'regex', 'typing', 'IGNORECASE', 'MULTI', 'List', 'declared_only']) expect(values.has(name), name).toBe(false);
    expect(values.size).toBe(Object.keys(expected).length + 3);
    expect(lines.get('single')).toBe(15);
    expect(lines.get('semicolons')).toBe(51);
    expect(lines.get('also')).toBe(51);
    expect(lines.get('redefined')).toBe(65);
  });

  it('freezes lists and tuples, and leaves regexes usable', () => {
    const { values } = readFixture('fedora.py');
    const repos = values.get('repos') as unknown[];
    expect(Object.isFrozen(repos)).toBe(true);
    expect(Object.isFrozen(repos[0])).toBe(true);
    expect(Object.isFrozen(repos[1])).toBe(true);
    const guess = values.get('guessparser') as RegExp;
    const global = new RegExp(guess.source, `${guess.flags}g`);
    expect([...'a.fc39 b.fc40'.matchAll(global)].map((match) => match[1])).toEqual(['39', '40']);
  });

  it('puts the file name into every error', () => {
    const err = errorOf('x = foo()\n');
    expect(err.file).toBe('test.py');
    expect(err.line).toBe(1);
    expect(err.message).toMatch(/^test\.py:1: a call to `foo\(\)` is not supported: a plugin file may only import modules/);
  });
});

describe('readPythonPlugin: accepted values', () => {
  const cases: [string, string, unknown][] = [
    ['single quotes', "x = 'a'", 'a'],
    ['double quotes', 'x = "a"', 'a'],
    ['empty string', 'x = ""', ''],
    ['triple single quotes over lines', "x = '''a\nb'''", 'a\nb'],
    ['triple double quotes holding quotes', 'x = """say "hi" and \'bye\'"""', 'say "hi" and \'bye\''],
    ['raw string', String.raw`x = r"\d\.\n"`, String.raw`\d\.\n`],
    ['raw string with an escaped quote', String.raw`x = r"a\"b"`, String.raw`a\"b`],
    ['raw string ending a line with a backslash', 'x = r"a\\\nb"', 'a\\\nb'],
    ['raw triple-quoted string', String.raw`x = R"""\w"""`, String.raw`\w`],
    ['u prefix', 'x = U"a"', 'a'],
    ['standard escapes', String.raw`x = "\n\t\r\\\'\"\a\b\f\v"`, '\n\t\r\\\'"\x07\b\f\v'],
    ['hex and unicode escapes', String.raw`x = "\x41\u00e9\U0001F600"`, 'Aé😀'],
    ['octal escapes', String.raw`x = "\101\0\7"`, 'A\0\x07'],
    ['unknown escapes stay as written', String.raw`x = "\.fc\d\8"`, String.raw`\.fc\d\8`],
    ['backslash-newline inside a string', 'x = "ab\\\ncd"', 'abcd'],
    ['a # inside a string', 'x = "#not a comment" # a comment', '#not a comment'],
    ['adjacent literals', `x = "a" 'b' r"\\c"`, 'ab\\c'],
    ['adjacent literals across lines in parentheses', 'x = (\n  "a"  # one\n\n  "b"\n)', 'ab'],
    ['non-ASCII text', 'x = "Fedora – 40 ✓"', 'Fedora – 40 ✓'],
    ['integer', 'x = 42', 42],
    ['zero', 'x = 0', 0],
    ['zeros', 'x = 00', 0],
    ['underscores', 'x = 1_000_000', 1_000_000],
    ['negative', 'x = -5', -5],
    ['plus sign', 'x = +5', 5],
    ['double negation', 'x = - -5', 5],
    ['hex', 'x = 0XfF', 255],
    ['octal', 'x = 0o17', 15],
    ['binary', 'x = 0b1_01', 5],
    ['float', 'x = 1.5', 1.5],
    ['float without integer part', 'x = .25', 0.25],
    ['float without fraction', 'x = 2.', 2],
    ['exponent', 'x = 1e3', 1000],
    ['negative exponent', 'x = -1.5E-3', -0.0015],
    ['float with leading zeros', 'x = 007.5', 7.5],
    ['True', 'x = True', true],
    ['False', 'x = False', false],
    ['None', 'x = None', null],
    ['empty list', 'x = []', []],
    ['list with a trailing comma', 'x = [1, "a",]', [1, 'a']],
    ['empty tuple', 'x = ()', []],
    ['one-element tuple', 'x = ("a",)', ['a']],
    ['parentheses without a comma are not a tuple', 'x = ("a")', 'a'],
    ['doubled parentheses', 'x = (((1)))', 1],
    ['tuple', 'x = (1, 2)', [1, 2]],
    ['tuple without parentheses', 'x = 1, 2', [1, 2]],
    ['one-element tuple without parentheses', 'x = 1,', [1]],
    ['nesting', 'x = [[], [[1]], ([2], (3,))]', [[], [[1]], [[2], [3]]]],
    ['a list spanning lines with comments', 'x = [\n    "a",  # first\n\n# between\n    "b"\n    ,\n]', ['a', 'b']],
    ['indentation inside brackets', 'x = [\n\t1,\n        2]', [1, 2]],
    ['backslash continuation', 'x = \\\n  [1,\\\n 2]', [1, 2]],
    ['annotated assignment', 'x: List[List[str]] = [[]]', [[]]],
    ['dotted, nested and ellipsis annotations', 'x: typing.Dict[str, Tuple[int, ...]] = ()', []],
    ['a list in an annotation', 'x: Callable[[int, str], None] = None', null],
    ['union annotation', 'x: int | None = 1', 1],
    ['string annotation', 'x: "List[str]" = []', []],
    ['semicolons', 'y = 1; x = 2;', 2],
    ['CRLF line endings', 'x = [\r\n  "a",\r\n]\r\n', ['a']],
    ['a CRLF inside a triple-quoted string', 'x = """a\r\nb"""', 'a\nb'],
    ['a byte order mark', '\uFEFFx = 1', 1],
    ['a form feed before a statement', '\fx = 1', 1],
    ['no newline at the end', 'x = 1', 1],
    ['a docstring, comments and blank lines', '"""Doc."""\n\n# comment\n  # indented comment\n\nx = 1\n', 1],
    ['imports are remembered, not run', 'import os\nimport os.path as p, sys\nfrom . import sibling\nfrom .. pkg import (a as b, c,)\nx = 1', 1],
    ['a later assignment wins', 'x = 1\nx = 2', 2],
  ];

  it.each(cases)('%s', (_name, source, expected) => {
    expect(valueOf(source)).toEqual(expected);
  });

  it('keeps Python ints and floats apart at zero', () => {
    expect(Object.is(valueOf('x = -0'), 0)).toBe(true);
    expect(Object.is(valueOf('x = -0.0'), -0)).toBe(true);
  });

  it('reads re.compile in every accepted form', () => {
    const regexes: [string, string, { source: string; flags: string }][] = [
      ['raw pattern', String.raw`import re` + '\nx = re.compile(r"\\.fc(\\d+)")', { source: String.raw`\.fc(\d+)`, flags: 'u' }],
      ['flag', 'import re\nx = re.compile("a", re.I)', { source: 'a', flags: 'iu' }],
      ['long flag names', 'import re\nx = re.compile("^a", re.IGNORECASE|re.MULTILINE)', { source: String.raw`(?<=^|\n)a`, flags: 'iu' }],
      ['keywords', 'import re\nx = re.compile(flags=re.I, pattern="a")', { source: 'a', flags: 'iu' }],
      ['integer flags', 'import re\nx = re.compile("a", 2)', { source: 'a', flags: 'iu' }],
      ['trailing comma', 'import re\nx = re.compile(\n  "a",\n  re.I,\n)', { source: 'a', flags: 'iu' }],
      ['concatenated pattern', 'import re\nx = re.compile(r"a" "b"\n  r"\\d")', { source: String.raw`ab\d`, flags: 'u' }],
      ['module alias', 'import re as regex\nx = regex.compile("a", regex.I)', { source: 'a', flags: 'iu' }],
      ['imported function and flag', 'from re import compile, I as ignore\nx = compile("a", ignore)', { source: 'a', flags: 'iu' }],
      ['in a list', 'import re\nx = [re.compile("a")]', { source: 'a', flags: 'u' }],
    ];
    for (const [name, source, expected] of regexes) {
      const value = valueOf(source);
      expect(regexOf(Array.isArray(value) ? value[0] : value), name).toEqual(expected);
    }
  });
});

describe('readPythonPlugin: rejected constructs', () => {
  // [construct, source, line of the error, text the message holds]
  const cases: [string, string, number, string][] = [
    ['function definition', 'x = 1\ndef f():\n    return 1\n', 2, 'a function definition (`def`) is not supported'],
    ['class definition', 'class A:\n    pass', 1, 'a class definition (`class`)'],
    ['if statement', 'x = 1\n\nif x:\n    y = 2', 3, 'an `if` statement'],
    ['main guard', 'x = 1\nif __name__ == "__main__":\n    print(x)', 2, 'an `if` statement'],
    ['for loop', 'for i in []:\n    pass', 1, 'a `for` loop'],
    ['while loop', 'while True:\n    pass', 1, 'a `while` loop'],
    ['try statement', 'try:\n    import foo\nexcept ImportError:\n    pass', 1, 'a `try` statement'],
    ['with statement', 'with open("f") as f:\n    pass', 1, 'a `with` statement'],
    ['del statement', 'x = 1\ndel x', 2, 'a `del` statement'],
    ['pass statement', 'pass', 1, 'a `pass` statement'],
    ['raise statement', 'raise SystemExit', 1, 'a `raise` statement'],
    ['assert statement', 'assert True', 1, 'an `assert` statement'],
    ['global statement', 'global x', 1, 'a `global` statement'],
    ['return statement', 'return 1', 1, 'a `return` statement'],
    ['async code', 'async def f():\n    pass', 1, 'async code'],
    ['decorator', '@decorator\ndef f():\n    pass', 1, 'a decorator'],
    ['call statement', 'x = 1\nprint(x)', 2, 'a call to `print()`'],
    ['exec', 'exec("x = 1")', 1, 'a call to `exec()`'],
    ['call in a value', 'x = foo()', 1, 'a call to `foo()`'],
    ['dotted call', 'import os\nx = os.path.join("a", "b")', 2, 'a call to `os.path.join()`'],
    ['call of another re function', 'import re\nx = re.match("a", "b")', 2, 'a call to `re.match()`'],
    ['reference to a variable', 'y = 1\nx = y', 2, 'a reference to `y` (values cannot refer to other names)'],
    ['reference to an attribute', 'import os\nx = os.sep', 2, 'a reference to `os.sep`'],
    ['reference in a list', 'x = [\n  "a",\n  y,\n]', 3, 'a reference to `y`'],
    ['call in a list', 'x = [\n  "a",\n  foo(),\n]', 3, 'a call to `foo()`'],
    ['attribute assignment', 'import os\nos.sep = "/"', 2, 'assignment to an attribute'],
    ['subscript assignment', 'x = [1]\nx[0] = 2', 2, 'assignment to a subscript'],
    ['augmented assignment', 'x = 1\nx += 1', 2, 'augmented assignment (`+=`)'],
    ['augmented list assignment', 'x = []\nx += ["a"]', 2, 'augmented assignment (`+=`)'],
    ['unpacking assignment', 'a, b = 1, 2', 1, 'assignment to several names at once (unpacking)'],
    ['chained assignment', 'a = b = 1', 1, 'chained assignment'],
    ['assignment to a literal', '(x) = 1', 1, 'assignment to something other than a plain name'],
    ['addition', 'x = 1 + 2', 1, 'the operator `+` (values cannot be computed)'],
    ['string concatenation with +', 'x = (\n  "a"\n  + "b"\n)', 3, 'the operator `+`'],
    ['repetition', 'x = ["a"] * 3', 1, 'the operator `*`'],
    ['bitwise or outside re.compile', 'x = 1 | 2', 1, 'the operator `|`'],
    ['comparison', 'x = 1 < 2', 1, 'the operator `<`'],
    ['boolean operator', 'x = True and False', 1, 'the operator `and`'],
    ['not', 'x = not True', 1, 'the operator `not`'],
    ['in', 'x = "a" in "abc"', 1, 'the operator `in`'],
    ['sign before a name', 'x = -y', 1, 'the sign `-` before the name `y`'],
    ['inverting', 'x = ~1', 1, 'the operator `~`'],
    ['list comprehension', 'x = [\n  i\n  for i in "ab"\n]', 3, 'a comprehension'],
    ['nested comprehension', 'x = [[], [\n  [i] for i in "ab"]]', 2, 'a comprehension'],
    ['generator expression', 'x = (i for i in "ab")', 1, 'a comprehension'],
    ['conditional expression', 'x = 1 if True else 2', 1, 'a conditional expression'],
    ['lambda', 'x = lambda a=1: a', 1, 'a `lambda`'],
    ['dict', 'x = {"a": 1}', 1, 'a dict or set literal'],
    ['set', 'x = [\n  {1},\n]', 2, 'a dict or set literal'],
    ['method call', 'x = "a b".split()', 1, 'attribute access (such as a method call)'],
    ['format', 'x = "{}".format(1)', 1, 'attribute access'],
    ['subscript', 'x = "abc"[0]', 1, 'subscripting'],
    ['starred item', 'x = [*"ab"]', 1, 'unpacking (`*`)'],
    ['ellipsis', 'x = ...', 1, 'the Ellipsis'],
    ['f-string', 'y = 1\nx = f"{y}"', 2, 'an f-string'],
    ['raw f-string', 'x = rf"{1}"', 1, 'an f-string'],
    ['bytes', 'x = [\n  b"a",\n]', 2, 'a bytes literal'],
    ['raw bytes', 'x = Rb"a"', 1, 'a bytes literal'],
    ['template string', 'x = t"a"', 1, 'a template string'],
    ['complex number', 'x = 1j', 1, 'the complex number 1j'],
    ['bare expression', 'x = 1\n42', 2, 'an expression statement'],
    ['bare list', '[1, 2]', 1, 'an expression statement'],
    ['star import', 'import re\nfrom os import *', 2, 'a star import (`from os import *`)'],
    ['call in an annotation', 'x: foo() = 1', 1, '`(` in a type annotation'],
    ['keyword in an annotation', 'x: lambda: 1 = 1', 1, 'the keyword `lambda` in a type annotation'],
    ['non-string pattern', 'import re\nx = re.compile(1)', 2, 'a re.compile() pattern that is not a string'],
    ['unknown flag', 'import re\nx = re.compile("a", re.DEBUG)', 2, '`re.DEBUG` as a re.compile() flag'],
    ['flag that is not from re', 'import re\nx = re.compile("a", y)', 2, '`y` as a re.compile() flag'],
    ['arithmetic on flags', 'import re\nx = re.compile("a", re.I + re.M)', 2, 'the operator `+`'],
    ['too many arguments', 'import re\nx = re.compile("a", 0, 1)', 2, 're.compile() with more than two arguments'],
    ['unknown keyword argument', 'import re\nx = re.compile("a", count=1)', 2, 're.compile() with the argument `count`'],
    ['no pattern', 'import re\nx = re.compile()', 2, 're.compile() without a pattern'],
  ];

  it.each(cases)('%s', (_name, source, line, message) => {
    const err = errorOf(source);
    expect(err.line).toBe(line);
    expect(err.detail).toContain(message);
    expect(err.detail).toContain(ONLY_LITERALS);
  });
});

describe('readPythonPlugin: Python syntax and literal errors', () => {
  const cases: [string, string, number, string][] = [
    ['unterminated string', 'x = 1\ny = "abc\n', 2, 'unterminated string literal'],
    ['unterminated triple-quoted string', 'x = 1\ny = """abc\n\ndef', 2, 'unterminated triple-quoted string literal'],
    ['raw string ending in a backslash', 'x = r"a\\"', 1, 'unterminated string literal'],
    ['unclosed bracket', 'x = 1\ny = [\n  1,\n  2,\n', 2, '`[` was never closed'],
    ['mismatched bracket', 'x = [1, 2)', 1, 'expected `,` or `]` (for `[` on line 1), found `)`'],
    ['missing comma', 'x = [\n  "a"\n  "b" 3\n]', 3, 'found the number 3'],
    ['unexpected indent', 'x = 1\n    y = 2', 2, 'unexpected indent'],
    ['backslash not at the end of a line', 'x = 1 \\ 2', 1, 'unexpected character after line continuation character'],
    ['invalid character', 'x = 1\ny = $', 2, "invalid character '$' (U+0024)"],
    ['leading zeros', 'x = 0123', 1, 'leading zeros in decimal integer literals are not permitted'],
    ['bad number', 'x = 0x', 1, "invalid number literal '0x'"],
    ['trailing underscore', 'x = 1_', 1, "invalid number literal '1_'"],
    ['truncated \\x escape', 'x = "\\x4"', 1, 'truncated \\xXX escape'],
    ['truncated \\u escape in a later line of a string', 'x = """\n\\u12"""', 2, 'truncated \\uXXXX escape'],
    ['too large \\U escape', 'x = "\\U00110000"', 1, 'illegal Unicode character'],
    ['named escape', 'x = "\\N{EM DASH}"', 1, 'named Unicode escapes (\\N{...}) are not supported'],
    ['too large integer', 'x = 123456789012345678901234567890', 1, 'too large to be represented exactly'],
    ['invalid prefix', 'x = ur"a"', 1, "invalid string prefix 'ur'"],
    ['two values', 'x = 1 2', 1, 'expected the end of the statement, found the number 2'],
    ['statement after a value', 'x = 1 y', 1, 'expected the end of the statement, found the name `y`'],
    ['re.compile without import', 'x = re.compile("a")', 1, '`re` is not the re module here: add `import re`'],
    ['re.compile with re shadowed', 'import re\nre = 1\nx = re.compile("a")', 3, '`re` is not the re module here'],
    ['re.compile with re imported under another name', 'import re as regex\nx = re.compile("a")', 2, '`re` is not the re module here'],
    ['errors come in source order', 'x = 1\ny = f()\nz = "unterminated', 2, 'a call to `f()`'],
    ['missing value', 'x =', 1, 'expected a value, found the end of the line'],
    ['missing import name', 'from os import', 1, 'expected a name, found the end of the line'],
    ['duplicate re.compile argument', 'import re\nx = re.compile("a", pattern="b")', 2, "got multiple values for argument 'pattern'"],
    ['positional after keyword', 'import re\nx = re.compile(pattern="a", 0)', 2, 'positional argument follows keyword argument'],
    ['bad regular expression', 'import re\nx = re.compile(\n  r"(?P<n>a"\n)', 3, 'missing ), unterminated subpattern'],
  ];

  it.each(cases)('%s', (_name, source, line, message) => {
    const err = errorOf(source);
    expect(err.line).toBe(line);
    expect(err.detail).toContain(message);
  });
});

// Translates a Python `re` pattern (a str pattern, Python 3.11 syntax) into a JS RegExp that matches the
// same strings, so the regexes of existing Python plugin files keep their meaning. What JS cannot express
// is an error naming the construct, never a silent approximation.
//
// Choices, and why:
// - The `u` flag is always set: it makes malformed syntax an error instead of a literal and matches by code
//   point as Python does. The translation escapes everything `u` mode is strict about (`\-`, lone `{`, ...).
// - The JS `m` and `s` flags are never set. `^`, `$`, `.`, `\A` and `\Z` are spelled out so they match
//   exactly where Python's do: Python's `$` also matches before a final newline (os-release files end with
//   one), and Python's `.` and multiline anchors treat only `\n` as a line break, JS's also `\r`, U+2028 and
//   U+2029. Spelling them out also makes Python's scoped flags (`(?s:...)`) free.
// - `\d`, `\w` and `\b` keep their JS (ASCII) meaning, where Python's are Unicode-aware for str patterns:
//   os-release lines and package NVRs are ASCII, and Unicode classes could not be negated inside a set
//   (`[^\W]`) without the `v` flag's different escaping rules. `\s` is Unicode in both.
// - Case-insensitivity maps to the JS `i` flag, and scoped `(?i:...)`/`(?-i:...)` to JS modifier groups.
// - Python requires fixed-width lookbehinds; JS does not, so such patterns are accepted here.

import { PluginError } from './error.js';

const IGNORECASE = 2;
const MULTILINE = 8;
const DOTALL = 16;
const UNICODE = 32;
const VERBOSE = 64;
const ASCII = 256;
const SUPPORTED_FLAGS = IGNORECASE | MULTILINE | DOTALL | UNICODE | VERBOSE | ASCII;

/**
 * The `re` module's flag constants that a pattern may use. re.LOCALE (bytes patterns only), re.DEBUG and
 * re.TEMPLATE are left out on purpose. UNICODE and ASCII are accepted and change nothing (see above).
 */
export const RE_FLAGS: ReadonlyMap<string, number> = new Map([
  ['NOFLAG', 0],
  ['I', IGNORECASE], ['IGNORECASE', IGNORECASE],
  ['M', MULTILINE], ['MULTILINE', MULTILINE],
  ['S', DOTALL], ['DOTALL', DOTALL],
  ['U', UNICODE], ['UNICODE', UNICODE],
  ['X', VERBOSE], ['VERBOSE', VERBOSE],
  ['A', ASCII], ['ASCII', ASCII],
]);

interface Flags {
  readonly ignoreCase: boolean;
  readonly multiline: boolean;
  readonly dotAll: boolean;
  readonly verbose: boolean;
}

/** What an item may be followed by: Python rejects quantified anchors, JS quantified lookarounds. */
type ItemKind = 'atom' | 'anchor' | 'lookaround' | 'quantified';

interface Item {
  readonly text: string;
  readonly kind: ItemKind;
}

type ClassItem = { readonly codePoint: number } | { readonly category: string };

const SYNTAX_CHARS = '\\^$.*+?()[]{}|';
const CLASS_SYNTAX_CHARS = '\\[]^-';
const VERBOSE_WHITESPACE = ' \t\n\r\v\f';
const INLINE_FLAGS = 'aiLmsux';
const SCOPED_OFF_FLAGS = 'imsx';
const CATEGORIES = 'dDsSwW';
const CHAR_ESCAPES = new Map([['a', 0x07], ['f', 0x0c], ['n', 0x0a], ['r', 0x0d], ['t', 0x09], ['v', 0x0b], ['\\', 0x5c]]);
const UNICODE_MAX = 0x10ffff;
const OCTAL_MAX = 0o377;

/** Whether `char` is one of the ASCII characters in `set` (`includes` alone would accept '' and substrings). */
const isOneOf = (set: string, char: string | undefined): boolean => char !== undefined && char.length === 1 && set.includes(char);
const isDigit = (char: string | undefined): boolean => isOneOf('0123456789', char);
const isOctal = (char: string | undefined): boolean => isOneOf('01234567', char);
const isHex = (char: string | undefined): boolean => isOneOf('0123456789abcdefABCDEF', char);
const isAsciiLetter = (char: string): boolean => /^[A-Za-z]$/.test(char);
const GROUP_NAME_RE = /^[\p{ID_Start}_]\p{ID_Continue}*$/u;

/** `codePoint` as it must appear in a `u`-mode pattern, inside or outside a character class. */
function literal(codePoint: number, inClass: boolean): string {
  const char = String.fromCodePoint(codePoint);
  if (isOneOf(inClass ? CLASS_SYNTAX_CHARS : SYNTAX_CHARS, char)) return `\\${char}`;
  if (codePoint < 0x20 || codePoint === 0x7f) return `\\x${codePoint.toString(16).padStart(2, '0')}`;
  return char;
}

class Translator {
  // Code points, so positions in messages count characters as Python's do.
  private readonly chars: readonly string[];
  private pos = 0;
  private groupCount = 0;
  private readonly openGroups = new Set<number>();
  private readonly groupNames = new Map<string, number>();
  private readonly error: (detail: string, at: number) => PluginError;

  constructor(pattern: string, error: (detail: string, at: number) => PluginError) {
    this.error = error;
    this.chars = Array.from(pattern);
  }

  /** The JS source, and whether the whole pattern ignores case (the JS `i` flag). */
  translate(initial: Flags): { source: string; ignoreCase: boolean } {
    const flags = this.globalFlags(initial);
    const source = this.disjunction(flags);
    if (this.pos < this.chars.length) throw this.error('unbalanced parenthesis', this.pos);
    return { source, ignoreCase: flags.ignoreCase };
  }

  private peek(offset = 0): string | undefined {
    return this.chars[this.pos + offset];
  }

  private next(): string | undefined {
    const char = this.chars[this.pos];
    if (char !== undefined) this.pos++;
    return char;
  }

  /** Python allows `(?aiLmsux)` only before anything else in the pattern; they apply to all of it. */
  private globalFlags(initial: Flags): Flags {
    let flags = initial;
    for (;;) {
      this.skipVerbose(flags);
      if (this.peek() !== '(' || this.peek(1) !== '?') return flags;
      const start = this.pos;
      this.pos += 2;
      if (this.peek() === '#') {
        this.skipComment(start);
        continue;
      }
      if (!isOneOf(INLINE_FLAGS, this.peek())) {
        this.pos = start;
        return flags;
      }
      const inline = this.inlineFlags(start);
      if (!inline.global) {
        this.pos = start;
        return flags;
      }
      flags = withFlags(flags, inline.on, '');
    }
  }

  private skipVerbose(flags: Flags): void {
    if (!flags.verbose) return;
    for (;;) {
      const char = this.peek();
      if (char === '#') {
        while (this.peek() !== undefined && this.peek() !== '\n') this.pos++;
      } else if (isOneOf(VERBOSE_WHITESPACE, char)) {
        this.pos++;
      } else {
        return;
      }
    }
  }

  /** After `(?#`: Python comments end at the first `)`. */
  private skipComment(start: number): void {
    while (this.peek() !== undefined && this.peek() !== ')') this.pos++;
    if (this.next() === undefined) throw this.error('missing ), unterminated comment', start);
  }

  private disjunction(flags: Flags): string {
    let source = this.alternative(flags);
    while (this.peek() === '|') {
      this.pos++;
      source += `|${this.alternative(flags)}`;
    }
    return source;
  }

  private alternative(flags: Flags): string {
    let source = '';
    let last: { start: number; kind: ItemKind } | undefined;
    for (;;) {
      this.skipVerbose(flags);
      const char = this.peek();
      if (char === undefined || char === '|' || char === ')') return source;
      const quantifierStart = this.pos;
      const quantifier = this.quantifier();
      if (quantifier !== undefined) {
        if (!last || last.kind === 'anchor') throw this.error('nothing to repeat', quantifierStart);
        if (last.kind === 'quantified') throw this.error('multiple repeat', quantifierStart);
        if (last.kind === 'lookaround') source = `${source.slice(0, last.start)}(?:${source.slice(last.start)})`;
        source += quantifier;
        last = { start: last.start, kind: 'quantified' };
        continue;
      }
      const item = this.item(flags);
      if (item === undefined) continue;
      last = { start: source.length, kind: item.kind };
      source += item.text;
    }
  }

  /** `*`, `+`, `?` or `{m,n}` (Python also has `{,n}`), maybe lazy; undefined when there is none. */
  private quantifier(): string | undefined {
    const start = this.pos;
    let text: string;
    const char = this.peek();
    if (char === '*' || char === '+' || char === '?') {
      this.pos++;
      text = char;
    } else if (char === '{') {
      let end = this.pos + 1;
      const digits = (): string => {
        let value = '';
        while (isDigit(this.chars[end])) value += this.chars[end++];
        return value;
      };
      const min = digits();
      const comma = this.chars[end] === ',';
      if (comma) end++;
      const max = comma ? digits() : min;
      // Anything else, `{}` included, is a literal `{` in Python.
      if (this.chars[end] !== '}' || (!comma && min === '')) return undefined;
      if (min !== '' && max !== '' && Number(max) < Number(min)) throw this.error('min repeat greater than max repeat', start + 1);
      this.pos = end + 1;
      text = comma ? `{${min || '0'},${max}}` : `{${min}}`;
    } else {
      return undefined;
    }
    if (this.peek() === '?') {
      this.pos++;
      text += '?';
    } else if (this.peek() === '+') {
      throw this.error('possessive quantifiers (such as *+) are not supported by JavaScript', start);
    }
    return text;
  }

  /** One atom or assertion; undefined for a comment. */
  private item(flags: Flags): Item | undefined {
    const start = this.pos;
    const char = this.next() ?? '';
    switch (char) {
      case '(':
        return this.group(flags, start);
      case '[':
        return { text: this.characterClass(start), kind: 'atom' };
      case '.':
        return { text: flags.dotAll ? '[\\s\\S]' : '[^\\n]', kind: 'atom' };
      case '^':
        return { text: flags.multiline ? '(?<=^|\\n)' : '^', kind: 'anchor' };
      case '$':
        return { text: flags.multiline ? '(?=\\n|$)' : '(?=\\n?$)', kind: 'anchor' };
      case '\\':
        return this.escape(start);
      default:
        return { text: literal(char.codePointAt(0) ?? 0, false), kind: 'atom' };
    }
  }

  /** After `(`. */
  private group(flags: Flags, start: number): Item | undefined {
    if (this.peek() !== '?') return this.capture(flags, start, undefined);
    this.pos++;
    const char = this.next();
    switch (char) {
      case ':':
        return { text: `(?:${this.groupBody(flags, start)})`, kind: 'atom' };
      case '=':
      case '!':
        return { text: `(?${char}${this.groupBody(flags, start)})`, kind: 'lookaround' };
      case '<': {
        const kind = this.next();
        if (kind === '=' || kind === '!') return { text: `(?<${kind}${this.groupBody(flags, start)})`, kind: 'lookaround' };
        throw this.error(`unknown extension ?<${kind ?? ''} (Python names groups with (?P<name>...))`, start + 1);
      }
      case 'P':
        return this.namedGroupOrReference(flags, start);
      case '#':
        this.skipComment(start);
        return undefined;
      case '>':
        throw this.error('atomic groups (?>...) are not supported by JavaScript', start);
      case '(':
        throw this.error('conditional groups (?(id)yes|no) are not supported by JavaScript', start);
      case undefined:
        throw this.error('unexpected end of pattern', this.pos);
      default: {
        if (!isOneOf(`${INLINE_FLAGS}-`, char)) throw this.error(`unknown extension ?${char}`, start + 1);
        this.pos--;
        const inline = this.inlineFlags(start);
        if (inline.global) throw this.error('global flags not at the start of the expression', start);
        const inner = withFlags(flags, inline.on, inline.off);
        const body = this.groupBody(inner, start);
        if (inner.ignoreCase === flags.ignoreCase) return { text: `(?:${body})`, kind: 'atom' };
        return { text: `(?${inner.ignoreCase ? 'i' : '-i'}:${body})`, kind: 'atom' };
      }
    }
  }

  /** After `(?P`: `<name>...)` or `=name)`. */
  private namedGroupOrReference(flags: Flags, start: number): Item {
    const kind = this.next();
    if (kind === '<') return this.capture(flags, start, this.groupName('>'));
    if (kind !== '=') throw this.error(`unknown extension ?P${kind ?? ''}`, start + 1);
    const name = this.groupName(')');
    const group = this.groupNames.get(name);
    if (group === undefined) throw this.error(`unknown group name '${name}'`, start);
    if (this.openGroups.has(group)) throw this.error('cannot refer to an open group', start);
    return { text: `\\k<${name}>`, kind: 'atom' };
  }

  private groupName(terminator: string): string {
    const start = this.pos;
    let name = '';
    for (let char = this.next(); char !== terminator; char = this.next()) {
      if (char === undefined) throw this.error(`missing ${terminator}, unterminated name`, start);
      name += char;
    }
    if (name === '') throw this.error('missing group name', start);
    if (!GROUP_NAME_RE.test(name)) throw this.error(`bad character in group name '${name}'`, start);
    return name;
  }

  private capture(flags: Flags, start: number, name: string | undefined): Item {
    const group = ++this.groupCount;
    if (name !== undefined) {
      const previous = this.groupNames.get(name);
      if (previous !== undefined) throw this.error(`redefinition of group name '${name}' as group ${group}; was group ${previous}`, start);
      this.groupNames.set(name, group);
    }
    this.openGroups.add(group);
    const body = this.groupBody(flags, start);
    this.openGroups.delete(group);
    return { text: name === undefined ? `(${body})` : `(?<${name}>${body})`, kind: 'atom' };
  }

  private groupBody(flags: Flags, start: number): string {
    const body = this.disjunction(flags);
    if (this.next() !== ')') throw this.error('missing ), unterminated subpattern', start);
    return body;
  }

  /** At the flag letters of `(?aiLmsux)` (global) or `(?aiLmsux-imsx:...)` (scoped), up to `)` or `:`. */
  private inlineFlags(start: number): { on: string; off: string; global: boolean } {
    let on = '';
    let off = '';
    while (isOneOf(INLINE_FLAGS, this.peek())) on += this.next();
    if (this.peek() === '-') {
      this.pos++;
      while (isOneOf(SCOPED_OFF_FLAGS, this.peek())) off += this.next();
      if (off === '') throw this.error('missing flag', this.pos);
    }
    const end = this.next();
    if (end !== ':' && end !== ')') throw this.error(end === undefined ? 'missing -, : or )' : 'unknown flag', this.pos - 1);
    if (end === ')' && off !== '') throw this.error('missing :', this.pos - 1);
    if (on.includes('L')) throw this.error("bad inline flags: cannot use 'L' flag with a str pattern", start);
    if (on.includes('a') && on.includes('u')) throw this.error("bad inline flags: flags 'a', 'u' and 'L' are incompatible", start);
    if ([...off].some((flag) => on.includes(flag))) throw this.error('bad inline flags: flag turned on and off', start);
    return { on, off, global: end === ')' };
  }

  /** After `\` outside a character class. */
  private escape(start: number): Item {
    const char = this.next();
    if (char === undefined) throw this.error('bad escape (end of pattern)', start);
    if (char === 'A') return { text: '^', kind: 'anchor' };
    if (char === 'Z') return { text: '$', kind: 'anchor' };
    if (char === 'b' || char === 'B') return { text: `\\${char}`, kind: 'anchor' };
    if (isOneOf(CATEGORIES, char)) return { text: `\\${char}`, kind: 'atom' };
    if (isDigit(char) && char !== '0') return this.backreferenceOrOctal(char, start);
    return { text: literal(this.characterEscape(char, start), false), kind: 'atom' };
  }

  /** Python reads `\NN` as a group number, unless it is three octal digits. */
  private backreferenceOrOctal(first: string, start: number): Item {
    let digits = first;
    if (isDigit(this.peek())) {
      digits += this.next();
      if (isOctal(digits[0]) && isOctal(digits[1]) && isOctal(this.peek())) {
        digits += this.next();
        const value = parseInt(digits, 8);
        if (value > OCTAL_MAX) throw this.error(`octal escape value \\${digits} outside of range 0-0o377`, start);
        return { text: literal(value, false), kind: 'atom' };
      }
    }
    const group = Number(digits);
    if (group > this.groupCount) throw this.error(`invalid group reference ${group}`, start + 1);
    if (this.openGroups.has(group)) throw this.error('cannot refer to an open group', start);
    // Wrapped so that a literal digit after it cannot extend the number.
    return { text: `(?:\\${group})`, kind: 'atom' };
  }

  /** The code point an escape other than a category, anchor or backreference stands for. */
  private characterEscape(char: string, start: number): number {
    const simple = CHAR_ESCAPES.get(char);
    if (simple !== undefined) return simple;
    if (char === 'x' || char === 'u' || char === 'U') {
      const length = char === 'x' ? 2 : char === 'u' ? 4 : 8;
      let digits = '';
      while (digits.length < length && isHex(this.peek())) digits += this.next();
      if (digits.length !== length) throw this.error(`incomplete escape \\${char}${digits}`, start);
      const value = parseInt(digits, 16);
      if (value > UNICODE_MAX) throw this.error(`bad escape \\${char}${digits}`, start);
      return value;
    }
    if (char === 'N') throw this.error('named Unicode escapes (\\N{...}) are not supported; write the character or a \\u escape', start);
    if (isOctal(char)) {
      let digits = char;
      while (digits.length < 3 && isOctal(this.peek())) digits += this.next();
      const value = parseInt(digits, 8);
      if (value > OCTAL_MAX) throw this.error(`octal escape value \\${digits} outside of range 0-0o377`, start);
      return value;
    }
    if (isDigit(char) || isAsciiLetter(char)) throw this.error(`bad escape \\${char}`, start);
    return char.codePointAt(0) ?? 0;
  }

  /** After `[`. */
  private characterClass(start: number): string {
    let source = '[';
    if (this.peek() === '^') {
      this.pos++;
      source += '^';
    }
    // A `]` right after `[` or `[^` is a literal in Python, an empty class in JS.
    for (let first = true; ; first = false) {
      const itemStart = this.pos;
      const char = this.next();
      if (char === undefined) throw this.error('unterminated character set', start);
      if (char === ']' && !first) return `${source}]`;
      const low = this.classItem(char, itemStart);
      if (this.peek() !== '-') {
        source += classItemText(low);
        continue;
      }
      this.pos++;
      const highStart = this.pos;
      const highChar = this.next();
      if (highChar === undefined) throw this.error('unterminated character set', start);
      if (highChar === ']') return `${source}${classItemText(low)}\\-]`;
      const high = this.classItem(highChar, highStart);
      if (!('codePoint' in low) || !('codePoint' in high) || high.codePoint < low.codePoint) {
        throw this.error(`bad character range ${this.chars.slice(itemStart, this.pos).join('')}`, itemStart);
      }
      source += `${literal(low.codePoint, true)}-${literal(high.codePoint, true)}`;
    }
  }

  private classItem(char: string, start: number): ClassItem {
    if (char !== '\\') return { codePoint: char.codePointAt(0) ?? 0 };
    const escaped = this.next();
    if (escaped === undefined) throw this.error('bad escape (end of pattern)', start);
    if (isOneOf(CATEGORIES, escaped)) return { category: `\\${escaped}` };
    // Inside a class `\b` is a backspace, and every digit escape is octal.
    if (escaped === 'b') return { codePoint: 0x08 };
    return { codePoint: this.characterEscape(escaped, start) };
  }
}

function classItemText(item: ClassItem): string {
  return 'codePoint' in item ? literal(item.codePoint, true) : item.category;
}

function withFlags(flags: Flags, on: string, off: string): Flags {
  const set = (letter: string, current: boolean): boolean => (on.includes(letter) ? true : off.includes(letter) ? false : current);
  return {
    ignoreCase: set('i', flags.ignoreCase),
    multiline: set('m', flags.multiline),
    dotAll: set('s', flags.dotAll),
    verbose: set('x', flags.verbose),
  };
}

/**
 * The JS RegExp for Python's `re.compile(pattern, flags)`. `flags` is the `re` flag bits (re.I = 2, ...).
 * Errors name `file` and `line` (the pattern's place in the plugin file) and the position in the pattern.
 */
export function translatePythonRegex(pattern: string, flags: number | undefined, file: string, line: number): RegExp {
  const error = (detail: string, at?: number): PluginError =>
    new PluginError(file, line, `regular expression ${JSON.stringify(pattern)}: ${detail}${at === undefined ? '' : ` at position ${at}`}`);
  const bits = flags ?? 0;
  if (!Number.isInteger(bits) || bits < 0 || (bits & ~SUPPORTED_FLAGS) !== 0) {
    throw error(`unsupported flags ${bits} (supported: re.I, re.M, re.S, re.X, re.U, re.A)`);
  }
  if ((bits & ASCII) !== 0 && (bits & UNICODE) !== 0) throw error('ASCII and UNICODE flags are incompatible');
  const { source, ignoreCase } = new Translator(pattern, error).translate({
    ignoreCase: (bits & IGNORECASE) !== 0,
    multiline: (bits & MULTILINE) !== 0,
    dotAll: (bits & DOTALL) !== 0,
    verbose: (bits & VERBOSE) !== 0,
  });
  try {
    return new RegExp(source, ignoreCase ? 'iu' : 'u');
  } catch (err) {
    throw error(`cannot be expressed as a JavaScript regular expression: ${(err as Error).message}`);
  }
}

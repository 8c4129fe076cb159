// Reads an existing Python distribution plugin (SPEC §3) as data, never executing it: the declarative subset
// upstream plugins use. That is imports, comments, docstrings, and assignments to plain names (optionally
// annotated) of literals (strings, numbers, True/False/None, lists, tuples) and of re.compile(...).
// Anything else is a PluginError at the file and line where it was found, naming the construct.

import { PluginError } from './error.js';
import { RE_FLAGS, translatePythonRegex } from './python-regex.js';

export interface PythonPluginValues {
  /** Module-level names assigned in the file, to their JS values. */
  readonly values: ReadonlyMap<string, unknown>;
  /** Line of each name's (last) assignment, for error messages. */
  readonly lines: ReadonlyMap<string, number>;
}

type Token =
  | { readonly kind: 'name' | 'op'; readonly text: string; readonly line: number }
  | { readonly kind: 'string'; readonly value: string; readonly line: number }
  | { readonly kind: 'number'; readonly text: string; readonly value: number; readonly isInt: boolean; readonly line: number }
  | { readonly kind: 'newline' | 'end'; readonly line: number };

const SUBSET = 'a plugin file may only import modules and assign literals (strings, numbers, True, False, None, '
  + 'lists, tuples) or re.compile(...) to names';

function unsupported(file: string, line: number, construct: string): PluginError {
  return new PluginError(file, line, `${construct} is not supported: ${SUBSET}`);
}

function syntaxError(file: string, line: number, detail: string): PluginError {
  return new PluginError(file, line, `invalid Python syntax: ${detail}`);
}

const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del',
  'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal',
  'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);
const ANNOTATION_FORMS = '(annotations may hold names, subscripts such as List[str], strings and `|` unions)';
const CONSTANTS = new Map<string, unknown>([['True', true], ['False', false], ['None', null]]);

/** What a keyword starts, for messages. */
const KEYWORD_CONSTRUCTS = new Map([
  ['def', 'a function definition (`def`)'], ['class', 'a class definition (`class`)'],
  ['if', 'an `if` statement'], ['elif', 'an `elif` clause'], ['else', 'an `else` clause'],
  ['for', 'a `for` loop'], ['while', 'a `while` loop'], ['try', 'a `try` statement'],
  ['except', 'an `except` clause'], ['finally', 'a `finally` clause'], ['with', 'a `with` statement'],
  ['return', 'a `return` statement'], ['yield', 'a `yield` expression'], ['del', 'a `del` statement'],
  ['pass', 'a `pass` statement'], ['raise', 'a `raise` statement'], ['global', 'a `global` statement'],
  ['nonlocal', 'a `nonlocal` statement'], ['assert', 'an `assert` statement'], ['break', 'a `break` statement'],
  ['continue', 'a `continue` statement'], ['lambda', 'a `lambda`'], ['async', 'async code'],
  ['await', 'an `await` expression'], ['not', 'the operator `not`'],
]);

/** What a keyword right after a value makes of it. */
const CONTINUATION_KEYWORDS = new Map([
  ['if', 'a conditional expression (`x if c else y`)'], ['for', 'a comprehension'], ['async', 'a comprehension'],
  ['and', 'the operator `and`'], ['or', 'the operator `or`'], ['not', 'the operator `not in`'],
  ['in', 'the operator `in`'], ['is', 'the operator `is`'],
]);

const BINARY_OPERATORS = new Set([
  '+', '-', '*', '/', '//', '%', '**', '@', '&', '|', '^', '<<', '>>', '<', '>', '<=', '>=', '==', '!=',
]);
const ASSIGNMENT_OPERATORS = new Set(['=', '+=', '-=', '*=', '/=', '//=', '%=', '**=', '@=', '&=', '|=', '^=', '>>=', '<<=']);

// Longest first, so that `**=` is not read as `*` `*=`.
const OPERATORS = [
  '**=', '//=', '>>=', '<<=', '...',
  '!=', '%=', '&=', '**', '*=', '+=', '-=', '->', '//', '/=', ':=', '<<', '<=', '==', '>=', '>>', '@=', '^=', '|=',
  '+', '-', '*', '/', '%', '@', '&', '|', '^', '~', '<', '>', '(', ')', '[', ']', '{', '}', ',', ':', ';', '.', '=',
];
const OPENING = '([{';
const CLOSING = ')]}';

const IDENTIFIER_RE = /[\p{ID_Start}_]\p{ID_Continue}*/uy;
const IDENTIFIER_CHAR_RE = /^\p{ID_Continue}/u;
const DIGITS = String.raw`\d(?:_?\d)*`;
const NUMBER_RE = new RegExp(
  String.raw`0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+`
  + `|(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?[jJ]?`,
  'y',
);
const STRING_PREFIXES = new Set(['', 'r', 'u', 'b', 'br', 'rb', 'f', 'fr', 'rf', 't', 'tr', 'rt']);
const STRING_ESCAPES = new Map([
  ['\\', '\\'], ["'", "'"], ['"', '"'], ['a', '\x07'], ['b', '\b'], ['f', '\f'], ['n', '\n'], ['r', '\r'], ['t', '\t'], ['v', '\v'],
]);
const HEX_ESCAPE_LENGTHS = new Map([['x', 2], ['u', 4], ['U', 8]]);

class Lexer {
  private readonly src: string;
  private pos = 0;
  private line = 1;
  /** Bracket nesting: inside brackets, newlines and indentation mean nothing. */
  private depth = 0;
  private lineStart = true;
  private done = false;
  private readonly tokens: Token[] = [];
  private readonly file: string;

  constructor(text: string, file: string) {
    this.file = file;
    // Python reads source with universal newlines; a UTF-8 BOM is not part of the code.
    this.src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  }

  /** The token at `index` (the end token past the end), lexed on demand so that errors come in source order. */
  token(index: number): Token {
    while (index >= this.tokens.length && !this.done) this.lexSome();
    return this.tokens[index] ?? this.tokens[this.tokens.length - 1] ?? { kind: 'end', line: this.line };
  }

  /** Reads the next piece of source: whitespace, a comment, a line break or a token. */
  private lexSome(): void {
    if (this.lineStart && this.depth === 0) this.indentation();
    this.lineStart = false;
    const char = this.src[this.pos];
    if (char === undefined) {
      if (this.depth === 0) this.endLine();
      this.tokens.push({ kind: 'end', line: this.line });
      this.done = true;
    } else if (char === ' ' || char === '\t' || char === '\f') {
      this.pos++;
    } else if (char === '#') {
      while (this.pos < this.src.length && this.src[this.pos] !== '\n') this.pos++;
    } else if (char === '\n') {
      if (this.depth === 0) this.endLine();
      this.pos++;
      this.line++;
      this.lineStart = true;
    } else if (char === '\\') {
      if (this.src[this.pos + 1] !== '\n') throw syntaxError(this.file, this.line, 'unexpected character after line continuation character');
      this.pos += 2;
      this.line++;
    } else if (char === '"' || char === "'") {
      this.string('');
    } else if (/[0-9]/.test(char) || (char === '.' && /[0-9]/.test(this.src[this.pos + 1] ?? ''))) {
      this.number();
    } else {
      this.nameOrOperator();
    }
  }

  /** Ends a logical line that has tokens; blank and comment-only lines have none. */
  private endLine(): void {
    const last = this.tokens.at(-1);
    if (last && last.kind !== 'newline') this.tokens.push({ kind: 'newline', line: this.line });
  }

  /** Every statement is top-level, so an indented line is an error (a form feed does not count). */
  private indentation(): void {
    let indented = false;
    for (let char = this.src[this.pos]; char === ' ' || char === '\t' || char === '\f'; char = this.src[++this.pos]) {
      if (char !== '\f') indented = true;
    }
    const next = this.src[this.pos];
    if (indented && next !== undefined && next !== '\n' && next !== '#') {
      throw syntaxError(this.file, this.line, 'unexpected indent (indented lines belong to blocks such as `def` or `if`)');
    }
  }

  private nameOrOperator(): void {
    IDENTIFIER_RE.lastIndex = this.pos;
    const name = IDENTIFIER_RE.exec(this.src)?.[0];
    if (name !== undefined) {
      this.pos += name.length;
      const next = this.src[this.pos];
      if ((next === '"' || next === "'") && /^[rbuft]{1,2}$/i.test(name)) {
        this.string(name);
      } else {
        // Python compares identifiers in NFKC form.
        this.tokens.push({ kind: 'name', text: name.normalize('NFKC'), line: this.line });
      }
      return;
    }
    const op = OPERATORS.find((candidate) => this.src.startsWith(candidate, this.pos));
    if (op === undefined) {
      const codePoint = this.src.codePointAt(this.pos) ?? 0;
      throw syntaxError(this.file, this.line, `invalid character '${String.fromCodePoint(codePoint)}' (U+${codePoint.toString(16).toUpperCase().padStart(4, '0')})`);
    }
    if (OPENING.includes(op)) this.depth++;
    // An unbalanced closing bracket is reported by the parser, with more context.
    if (CLOSING.includes(op)) this.depth = Math.max(0, this.depth - 1);
    this.pos += op.length;
    this.tokens.push({ kind: 'op', text: op, line: this.line });
  }

  private number(): void {
    NUMBER_RE.lastIndex = this.pos;
    const text = NUMBER_RE.exec(this.src)?.[0] ?? '';
    this.pos += text.length;
    if (IDENTIFIER_CHAR_RE.test(this.src.slice(this.pos, this.pos + 2))) {
      throw syntaxError(this.file, this.line, `invalid number literal '${text}${this.src[this.pos] ?? ''}'`);
    }
    if (/[jJ]$/.test(text)) throw unsupported(this.file, this.line, `the complex number ${text}`);
    const digits = text.replaceAll('_', '');
    const isInt = /^0[xob]/i.test(digits) || !/[.e]/i.test(digits);
    if (isInt && /^0+[1-9]/.test(digits)) {
      throw syntaxError(this.file, this.line, `leading zeros in decimal integer literals are not permitted: ${text}`);
    }
    // Number() reads Python's 0x/0o/0b forms and every decimal form the lexer accepts.
    const value = Number(digits);
    if (isInt && !Number.isSafeInteger(value)) {
      throw new PluginError(this.file, this.line, `the integer ${text} is too large to be represented exactly`);
    }
    this.tokens.push({ kind: 'number', text, value, isInt, line: this.line });
  }

  /** At the opening quote of a string literal with `prefix`. */
  private string(prefix: string): void {
    const line = this.line;
    const kind = prefix.toLowerCase();
    if (!STRING_PREFIXES.has(kind)) throw syntaxError(this.file, line, `invalid string prefix '${prefix}'`);
    if (kind.includes('b')) throw unsupported(this.file, line, 'a bytes literal (b"...")');
    if (kind.includes('f')) throw unsupported(this.file, line, 'an f-string (f"...")');
    if (kind.includes('t')) throw unsupported(this.file, line, 'a template string (t"...")');
    const mark = this.src[this.pos] ?? '';
    const quote = this.src.startsWith(mark.repeat(3), this.pos) ? mark.repeat(3) : mark;
    this.pos += quote.length;
    let value = '';
    for (;;) {
      const char = this.src[this.pos];
      if (char === undefined || (char === '\n' && quote.length === 1)) {
        throw syntaxError(this.file, line, `unterminated ${quote.length === 3 ? 'triple-quoted ' : ''}string literal`);
      }
      if (this.src.startsWith(quote, this.pos)) {
        this.pos += quote.length;
        break;
      }
      if (char === '\\') {
        value += this.escape(kind.includes('r'));
        continue;
      }
      if (char === '\n') this.line++;
      value += char;
      this.pos++;
    }
    this.tokens.push({ kind: 'string', value, line });
  }

  /** At a backslash in a string: what it and what follows stand for. */
  private escape(raw: boolean): string {
    const next = this.src[this.pos + 1];
    if (next === undefined) {
      this.pos++;
      return '\\';
    }
    this.pos += 2;
    if (next === '\n') this.line++;
    // In a raw string a backslash only stops the next character from ending the string; both stay.
    if (raw) return `\\${next}`;
    if (next === '\n') return '';
    const simple = STRING_ESCAPES.get(next);
    if (simple !== undefined) return simple;
    if (/[0-7]/.test(next)) {
      let digits = next;
      while (digits.length < 3 && /[0-7]/.test(this.src[this.pos] ?? '')) digits += this.src[this.pos++];
      return String.fromCodePoint(parseInt(digits, 8));
    }
    const length = HEX_ESCAPE_LENGTHS.get(next);
    if (length !== undefined) {
      const digits = this.src.slice(this.pos, this.pos + length);
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== length) {
        throw syntaxError(this.file, this.line, `truncated \\${next}${'X'.repeat(length)} escape`);
      }
      const value = parseInt(digits, 16);
      if (value > 0x10ffff) throw syntaxError(this.file, this.line, `illegal Unicode character \\${next}${digits}`);
      this.pos += length;
      return String.fromCodePoint(value);
    }
    if (next === 'N') {
      throw new PluginError(this.file, this.line, 'named Unicode escapes (\\N{...}) are not supported: write the character itself or a \\u escape');
    }
    // Python keeps unknown escapes as written (old plugins rely on "\." in non-raw regex strings).
    return `\\${next}`;
  }
}

type TextToken = Extract<Token, { kind: 'name' | 'op' }>;

const isOp = (token: Token, text: string): boolean => token.kind === 'op' && token.text === text;
const isKeyword = (token: Token, text: string): boolean => token.kind === 'name' && token.text === text;
const isIdentifier = (token: Token): token is TextToken => token.kind === 'name' && !KEYWORDS.has(token.text);
const isStatementEnd = (token: Token): boolean => token.kind === 'newline' || token.kind === 'end' || isOp(token, ';');

function describe(token: Token): string {
  switch (token.kind) {
    case 'name':
      return KEYWORDS.has(token.text) ? `the keyword \`${token.text}\`` : `the name \`${token.text}\``;
    case 'op':
      return `\`${token.text}\``;
    case 'string':
      return 'a string';
    case 'number':
      return `the number ${token.text}`;
    case 'newline':
      return 'the end of the line';
    case 'end':
      return 'the end of the file';
  }
}

class Parser {
  private pos = 0;
  private readonly values = new Map<string, unknown>();
  private readonly lines = new Map<string, number>();
  /** What each imported name stands for: `import re` binds `re` to `re`, `from re import I` binds `I` to `re.I`. */
  private readonly imports = new Map<string, string>();
  private readonly lexer: Lexer;
  private readonly file: string;

  constructor(lexer: Lexer, file: string) {
    this.lexer = lexer;
    this.file = file;
  }

  parse(): PythonPluginValues {
    while (this.peek().kind !== 'end') {
      this.statement();
      this.endOfStatement();
    }
    return { values: this.values, lines: this.lines };
  }

  private peek(offset = 0): Token {
    return this.lexer.token(this.pos + offset);
  }

  private advance(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.pos++;
    return token;
  }

  private unsupported(line: number, construct: string): PluginError {
    return unsupported(this.file, line, construct);
  }

  private syntaxError(line: number, detail: string): PluginError {
    return syntaxError(this.file, line, detail);
  }

  private statement(): void {
    const first = this.peek();
    const second = this.peek(1);
    if (isKeyword(first, 'import')) return this.importStatement();
    if (isKeyword(first, 'from')) return this.fromImport();
    if (first.kind === 'name' && KEYWORDS.has(first.text) && !CONSTANTS.has(first.text)) {
      throw this.unsupported(first.line, KEYWORD_CONSTRUCTS.get(first.text) ?? `the keyword \`${first.text}\``);
    }
    if (isOp(first, '@')) throw this.unsupported(first.line, 'a decorator');
    if (isIdentifier(first) && isOp(second, '=')) return this.assignment(first);
    if (isIdentifier(first) && isOp(second, ':')) return this.annotatedAssignment(first);
    const target = this.assignmentOperator();
    if (target) {
      if (target.op.text !== '=') throw this.unsupported(first.line, `augmented assignment (\`${target.op.text}\`)`);
      if (target.unpacking) throw this.unsupported(first.line, 'assignment to several names at once (unpacking)');
      if (isIdentifier(first) && isOp(second, '.')) throw this.unsupported(first.line, 'assignment to an attribute');
      if (isIdentifier(first) && isOp(second, '[')) throw this.unsupported(first.line, 'assignment to a subscript');
      throw this.unsupported(first.line, 'assignment to something other than a plain name');
    }
    // Only a string may stand alone: a docstring, or one used as a comment.
    if (typeof this.expressionList() !== 'string') throw this.unsupported(first.line, 'an expression statement');
  }

  /** The first assignment operator outside brackets from here to the end of the statement. */
  private assignmentOperator(): { op: TextToken; unpacking: boolean } | undefined {
    let depth = 0;
    let unpacking = false;
    for (let i = this.pos; ; i++) {
      const token = this.lexer.token(i);
      // A lambda's parameter defaults are not assignments.
      if (token.kind === 'end' || token.kind === 'newline' || isKeyword(token, 'lambda')) return undefined;
      if (token.kind !== 'op') continue;
      if (OPENING.includes(token.text)) depth++;
      else if (CLOSING.includes(token.text)) depth--;
      else if (depth > 0) continue;
      else if (token.text === ';') return undefined;
      else if (token.text === ',') unpacking = true;
      else if (ASSIGNMENT_OPERATORS.has(token.text)) return { op: token, unpacking };
    }
  }

  private endOfStatement(): void {
    const token = this.peek();
    if (token.kind === 'end') return;
    if (isOp(token, ';')) this.advance();
    if (this.peek().kind === 'newline') {
      this.advance();
      return;
    }
    if (isOp(token, ';')) return;
    throw this.syntaxError(token.line, `expected the end of the statement, found ${describe(token)}`);
  }

  private assignment(name: TextToken): void {
    this.advance();
    this.advance();
    if (this.assignmentOperator()) throw this.unsupported(name.line, 'chained assignment (`a = b = ...`)');
    this.bind(name, this.expressionList());
  }

  /** `name: Annotation` or `name: Annotation = value`; the annotation is checked for form, then ignored. */
  private annotatedAssignment(name: TextToken): void {
    this.advance();
    this.advance();
    this.annotation();
    // A bare annotation declares the name without binding it.
    if (isStatementEnd(this.peek())) return;
    if (!isOp(this.peek(), '=')) throw this.unsupported(this.peek().line, `${describe(this.peek())} in a type annotation ${ANNOTATION_FORMS}`);
    this.advance();
    this.bind(name, this.expressionList());
  }

  private bind(name: TextToken, value: unknown): void {
    this.values.set(name.text, value);
    this.lines.set(name.text, name.line);
    this.imports.delete(name.text);
  }

  private bindImport(name: string, target: string): void {
    this.imports.set(name, target);
    this.values.delete(name);
    this.lines.delete(name);
  }

  /** `import a.b`, `import a.b as c`, several separated by commas. Nothing is imported, only remembered. */
  private importStatement(): void {
    this.advance();
    for (;;) {
      const module = this.modulePath();
      if (isKeyword(this.peek(), 'as')) {
        this.advance();
        this.bindImport(this.identifier(), module);
      } else {
        const top = module.split('.')[0] ?? module;
        this.bindImport(top, top);
      }
      if (!isOp(this.peek(), ',')) return;
      this.advance();
    }
  }

  /** `from m import a, b as c`, or the same in parentheses. */
  private fromImport(): void {
    const from = this.advance();
    let module = '';
    while (isOp(this.peek(), '.') || isOp(this.peek(), '...')) module += isOp(this.advance(), '.') ? '.' : '...';
    if (!isKeyword(this.peek(), 'import')) module += this.modulePath();
    const keyword = this.advance();
    if (!isKeyword(keyword, 'import')) throw this.syntaxError(keyword.line, `expected \`import\`, found ${describe(keyword)}`);
    if (isOp(this.peek(), '*')) throw this.unsupported(from.line, `a star import (\`from ${module} import *\`)`);
    const open = isOp(this.peek(), '(') ? this.advance() : undefined;
    for (;;) {
      const name = this.identifier();
      let alias = name;
      if (isKeyword(this.peek(), 'as')) {
        this.advance();
        alias = this.identifier();
      }
      this.bindImport(alias, `${module}.${name}`);
      if (!isOp(this.peek(), ',')) break;
      this.advance();
      if (open && isOp(this.peek(), ')')) break;
    }
    if (open) this.close(open, ')');
  }

  private modulePath(): string {
    let path = this.identifier();
    while (isOp(this.peek(), '.')) {
      this.advance();
      path += `.${this.identifier()}`;
    }
    return path;
  }

  private identifier(): string {
    const token = this.advance();
    if (!isIdentifier(token)) throw this.syntaxError(token.line, `expected a name, found ${describe(token)}`);
    return token.text;
  }

  /** A type expression: names, dotted names, subscripts, lists (Callable[[...], ...]), strings, `|` unions. */
  private annotation(): void {
    this.annotationTerm();
    while (isOp(this.peek(), '|')) {
      this.advance();
      this.annotationTerm();
    }
  }

  private annotationTerm(): void {
    const token = this.advance();
    if (token.kind === 'string' || token.kind === 'number' || isOp(token, '...')) return;
    if (isOp(token, '[')) return this.annotationList(token);
    if (token.kind !== 'name' || (KEYWORDS.has(token.text) && !CONSTANTS.has(token.text))) {
      throw this.unsupported(token.line, `${describe(token)} in a type annotation ${ANNOTATION_FORMS}`);
    }
    while (isOp(this.peek(), '.') && isIdentifier(this.peek(1))) {
      this.advance();
      this.advance();
    }
    if (isOp(this.peek(), '[')) this.annotationList(this.advance());
  }

  private annotationList(open: Token): void {
    while (!this.atClose(open, ']')) {
      this.annotation();
      if (!isOp(this.peek(), ',')) break;
      this.advance();
    }
    this.close(open, ']');
  }

  /** Values separated by commas, as on the right of `=`: more than one, or a trailing comma, make a tuple. */
  private expressionList(): unknown {
    const first = this.expression();
    if (!isOp(this.peek(), ',')) return first;
    const items = [first];
    while (isOp(this.peek(), ',')) {
      this.advance();
      if (isStatementEnd(this.peek())) break;
      items.push(this.expression());
    }
    return Object.freeze(items);
  }

  private expression(): unknown {
    const value = this.signed();
    this.rejectContinuation();
    return value;
  }

  /** A value with unary `-`/`+`, which only numbers may have. */
  private signed(): unknown {
    const sign = this.peek();
    if (!isOp(sign, '-') && !isOp(sign, '+')) return this.atom();
    let negative = false;
    while (isOp(this.peek(), '-') || isOp(this.peek(), '+')) {
      if (isOp(this.advance(), '-')) negative = !negative;
    }
    const operand = this.advance();
    if (operand.kind !== 'number') {
      throw this.unsupported(sign.line, `the sign ${describe(sign)} before ${describe(operand)} (only numbers may be signed)`);
    }
    // Python ints have no negative zero.
    return negative && !(operand.isInt && operand.value === 0) ? -operand.value : operand.value;
  }

  private atom(): unknown {
    const token = this.advance();
    switch (token.kind) {
      case 'string': {
        // Adjacent literals are one string, also across lines inside brackets.
        let value = token.value;
        for (let next = this.peek(); next.kind === 'string'; next = this.peek()) {
          this.advance();
          value += next.value;
        }
        return value;
      }
      case 'number':
        return token.value;
      case 'name':
        return this.name(token);
      case 'op':
        return this.bracketed(token);
      default:
        throw this.syntaxError(token.line, `expected a value, found ${describe(token)}`);
    }
  }

  private name(token: TextToken): unknown {
    if (CONSTANTS.has(token.text)) return CONSTANTS.get(token.text);
    if (KEYWORDS.has(token.text)) throw this.unsupported(token.line, KEYWORD_CONSTRUCTS.get(token.text) ?? `the keyword \`${token.text}\``);
    const { dotted, target } = this.dottedName(token);
    if (isOp(this.peek(), '(')) {
      if (target === 're.compile') return this.compile(token);
      if (dotted === 're.compile') throw new PluginError(this.file, token.line, '`re` is not the re module here: add `import re` before using re.compile');
      throw this.unsupported(token.line, `a call to \`${dotted}()\``);
    }
    throw this.unsupported(token.line, `a reference to \`${dotted}\` (values cannot refer to other names)`);
  }

  /** `a.b.c` from its first name: as written, and what it stands for through the imports. */
  private dottedName(first: TextToken): { dotted: string; target: string | undefined } {
    let dotted = first.text;
    let target = this.imports.get(first.text);
    for (let next = this.peek(1); isOp(this.peek(), '.') && isIdentifier(next); next = this.peek(1)) {
      this.advance();
      this.advance();
      dotted += `.${next.text}`;
      if (target !== undefined) target += `.${next.text}`;
    }
    return { dotted, target };
  }

  /** After the callee of `re.compile(pattern, flags)`; both may be passed by keyword. */
  private compile(callee: TextToken): RegExp {
    const open = this.advance();
    let pattern: { value: string; line: number } | undefined;
    let flags: number | undefined;
    let positional = 0;
    let keywords = false;
    while (!this.atClose(open, ')')) {
      const argument = this.peek();
      let parameter: string | undefined;
      if (isIdentifier(argument) && isOp(this.peek(1), '=')) {
        this.advance();
        this.advance();
        parameter = argument.text;
        keywords = true;
      } else if (keywords) {
        throw this.syntaxError(argument.line, 'positional argument follows keyword argument');
      } else {
        parameter = ['pattern', 'flags'][positional++];
      }
      if (parameter === 'pattern' && pattern === undefined) {
        const value = this.expression();
        if (typeof value !== 'string') throw this.unsupported(argument.line, 'a re.compile() pattern that is not a string');
        pattern = { value, line: argument.line };
      } else if (parameter === 'flags' && flags === undefined) {
        flags = this.flags();
      } else if (parameter === 'pattern' || parameter === 'flags') {
        throw this.syntaxError(argument.line, `re.compile() got multiple values for argument '${parameter}'`);
      } else {
        throw this.unsupported(argument.line, `re.compile() with ${parameter === undefined ? 'more than two arguments' : `the argument \`${parameter}\``}`);
      }
      if (!isOp(this.peek(), ',')) break;
      this.advance();
    }
    this.close(open, ')');
    if (!pattern) throw this.unsupported(callee.line, 're.compile() without a pattern');
    return translatePythonRegex(pattern.value, flags, this.file, pattern.line);
  }

  /** `re.I | re.M ...`, flag names as imported, or integers. */
  private flags(): number {
    let bits = this.flag();
    while (isOp(this.peek(), '|')) {
      this.advance();
      bits |= this.flag();
    }
    this.rejectContinuation();
    return bits;
  }

  private flag(): number {
    const token = this.advance();
    if (token.kind === 'number' && token.isInt) return token.value;
    if (!isIdentifier(token)) throw this.unsupported(token.line, `${describe(token)} as a re.compile() flag`);
    const { dotted, target } = this.dottedName(token);
    const bits = target?.startsWith('re.') ? RE_FLAGS.get(target.slice('re.'.length)) : undefined;
    if (bits === undefined) {
      throw this.unsupported(token.line, `\`${dotted}\` as a re.compile() flag (flags are re.I, re.M, re.S, re.X, re.A, re.U and their long names)`);
    }
    return bits;
  }

  private bracketed(open: TextToken): unknown {
    switch (open.text) {
      case '[':
        return Object.freeze(this.items(open, ']').items);
      case '(': {
        const { items, comma } = this.items(open, ')');
        // `(x)` is x; a comma, or nothing at all, makes a tuple.
        return comma || items.length === 0 ? Object.freeze(items) : items[0];
      }
      case '{':
        throw this.unsupported(open.line, 'a dict or set literal (`{...}`)');
      case '...':
        throw this.unsupported(open.line, 'the Ellipsis (`...`)');
      case '*':
      case '**':
        throw this.unsupported(open.line, `unpacking (\`${open.text}\`)`);
      case '~':
        throw this.unsupported(open.line, 'the operator `~`');
      default:
        throw this.syntaxError(open.line, `expected a value, found ${describe(open)}`);
    }
  }

  /** Comma-separated values up to the bracket closing `open`. */
  private items(open: Token, close: string): { items: unknown[]; comma: boolean } {
    // Found first: otherwise the loop variable would be reported as a reference to another name.
    const comprehension = this.comprehension();
    if (comprehension) throw this.unsupported(comprehension.line, 'a comprehension');
    const items: unknown[] = [];
    let comma = false;
    while (!this.atClose(open, close)) {
      items.push(this.expression());
      if (!isOp(this.peek(), ',')) break;
      this.advance();
      comma = true;
    }
    this.close(open, close);
    return { items, comma };
  }

  /** A `for` directly inside the brackets just opened, which makes them a comprehension. */
  private comprehension(): Token | undefined {
    let depth = 0;
    for (let i = this.pos; ; i++) {
      const token = this.lexer.token(i);
      if (token.kind === 'end') return undefined;
      if (token.kind === 'op' && OPENING.includes(token.text)) depth++;
      else if (token.kind === 'op' && CLOSING.includes(token.text) && --depth < 0) return undefined;
      else if (depth === 0 && isKeyword(token, 'for')) return token;
    }
  }

  private atClose(open: Token, close: string): boolean {
    if (this.peek().kind === 'end') throw this.syntaxError(open.line, `${describe(open)} was never closed`);
    return isOp(this.peek(), close);
  }

  private close(open: Token, close: string): void {
    const token = this.advance();
    if (isOp(token, close)) return;
    if (token.kind === 'end') throw this.syntaxError(open.line, `${describe(open)} was never closed`);
    throw this.syntaxError(token.line, `expected \`,\` or \`${close}\` (for ${describe(open)} on line ${open.line}), found ${describe(token)}`);
  }

  /** A value is complete: what follows must not make it an operation (arithmetic, call, comprehension...). */
  private rejectContinuation(): void {
    const token = this.peek();
    if (token.kind === 'name') {
      const construct = CONTINUATION_KEYWORDS.get(token.text);
      if (construct !== undefined) throw this.unsupported(token.line, construct);
    }
    if (token.kind !== 'op') return;
    if (BINARY_OPERATORS.has(token.text)) throw this.unsupported(token.line, `the operator \`${token.text}\` (values cannot be computed)`);
    if (token.text === '(') throw this.unsupported(token.line, 'a call');
    if (token.text === '[') throw this.unsupported(token.line, 'subscripting (`[...]` after a value)');
    if (token.text === '.') throw this.unsupported(token.line, 'attribute access (such as a method call)');
  }
}

/** The names `text` (the content of Python plugin `file`) assigns. Throws PluginError(file, line, detail). */
export function readPythonPlugin(text: string, file: string): PythonPluginValues {
  return new Parser(new Lexer(text, file), file).parse();
}

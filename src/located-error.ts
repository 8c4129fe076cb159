/** A problem in an input file, located by file and (when known) line: `file:line: detail`. */
export class LocatedError extends Error {
  readonly file: string;
  readonly line: number | undefined;
  readonly detail: string;

  constructor(file: string, line: number | undefined, detail: string) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${detail}`);
    this.name = new.target.name;
    this.file = file;
    this.line = line;
    this.detail = detail;
  }
}

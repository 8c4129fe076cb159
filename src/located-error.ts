/** A problem in an input file, located by file and (when known) line: `file:line: detail`. */
export class LocatedError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly detail: string,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${detail}`);
    this.name = new.target.name;
  }
}

import { LocatedError } from '../located-error.js';

/** A problem in retrace-server.conf: names the file, line, key, value and what was expected. */
export class ConfigError extends LocatedError {}

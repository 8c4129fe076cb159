import { LocatedError } from '../located-error.js';

/** A problem in a distribution plugin file. */
export class PluginError extends LocatedError {}

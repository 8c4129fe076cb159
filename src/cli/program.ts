// What the four binaries share: --help/--version, --config and --plugin-dir, how a fatal start-up problem is
// reported (one clear line on stderr, exit 1), and no debugger opened by a signal.

import { Command } from 'commander';
import { VERSION } from '../version.js';

export function createProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .version(VERSION, '-V, --version')
    .helpOption('-h, --help')
    .showHelpAfterError();
}

export const CONFIG_OPTION_HELP = 'config file (default: $RETRACE_SERVER_CONFIG_PATH or /etc/retrace-server/retrace-server.conf)';
export const PLUGIN_DIR_OPTION_HELP = 'plugin directory (default: $RETRACE_SERVER_PLUGIN_DIR or /usr/share/retrace-server/plugins)';

/** Prints `name: message` to stderr and exits with `code`. */
export function die(name: string, message: string, code = 1): never {
  process.stderr.write(`${name}: ${message}\n`);
  process.exit(code);
}

/**
 * Node answers SIGUSR1 by opening its inspector on 127.0.0.1:9229, through which anyone on the host could run code
 * as the process. A listener of our own keeps it closed on every Node we support (--disable-sigusr1 needs 22.14);
 * `report` logs the message that says the signal was ignored.
 */
export function ignoreInspectorSignal(report: (message: string) => void): void {
  process.on('SIGUSR1', () => report('SIGUSR1 ignored: it opens no debugger here'));
}

// pino JSON to stdout. Under journald (JOURNAL_STREAM set) each line starts with a <N> syslog
// priority so `journalctl -p warning` filters by level; on a TTY it is pretty-printed for people.

import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

// pino level number → syslog priority (sd-daemon(3)).
const JOURNAL_PRIORITY: ReadonlyArray<[minLevel: number, prefix: string]> = [
  [60, '<2>'], // fatal → crit
  [50, '<3>'], // error → err
  [40, '<4>'], // warn → warning
  [30, '<6>'], // info → info
  [0, '<7>'], // debug, trace → debug
];

function journalDestination(out: NodeJS.WritableStream): DestinationStream {
  return {
    write(line: string) {
      const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 30);
      const prefix = JOURNAL_PRIORITY.find(([min]) => level >= min)?.[1] ?? '<6>';
      out.write(prefix + line);
    },
  };
}

export interface LogOptions {
  readonly name: string;
  readonly level?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly out?: NodeJS.WritableStream & { isTTY?: boolean };
}

export function createLogger({ name, level = 'info', env = process.env, out = process.stdout }: LogOptions): Logger {
  const options = { name, level, base: { svc: name } };
  if (env.JOURNAL_STREAM) return pino({ ...options, timestamp: false }, journalDestination(out));
  if (out.isTTY) return pino(options, pretty({ destination: out, colorize: true, sync: true }));
  return pino(options, out as DestinationStream);
}

// sd_notify(3) without a native module. Node's dgram has no AF_UNIX datagrams (agent-anchors §5.1) and a
// native addon would have to be built per Node ABI, so one long-lived python3 helper (python3 is on every
// Retrace Server host: the server is Python) sends the datagrams: the agent writes one JSON-encoded message
// per line to its stdin, the helper sends each to $NOTIFY_SOCKET (`@name` = abstract socket).
//
// The datagrams come from the helper's pid, not the agent's, so the unit needs NotifyAccess=all
// (packaging/retrace-server-agent.service). Without NOTIFY_SOCKET every call is a no-op and no process runs.

import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../log.js';

export interface Notifier {
  /** false when NOTIFY_SOCKET is unset (not run by systemd as Type=notify): every call does nothing. */
  readonly enabled: boolean;
  /** The watchdog period for this process (ms), or undefined when no watchdog is armed for it. */
  readonly watchdogMs: number | undefined;
  /** READY=1, with a STATUS= line when given. */
  ready(status?: string): void;
  /** STATUS=<one line>. */
  status(text: string): void;
  /** RELOADING=1 (a READY=1 must follow when the reload is done). */
  reloading(status?: string): void;
  /** WATCHDOG=1. */
  watchdog(): void;
  /** STOPPING=1, with a STATUS= line when given. */
  stopping(status?: string): void;
  /** Sends the given KEY=VALUE fields as one datagram. */
  send(fields: Readonly<Record<string, string>>): void;
  /** Sends what is queued, then ends the helper (waits at most a second for it). */
  close(): Promise<void>;
}

export interface NotifierOptions {
  readonly log?: Logger;
  /** Our pid, for WATCHDOG_PID (tests). */
  readonly pid?: number;
  /** The interpreter that runs the helper (default `python3` from PATH). */
  readonly python?: string;
}

// Reads one JSON string per line and sends it as one datagram. Signals that reach the whole process group
// (Ctrl-C in a terminal) must not kill it before the agent's STOPPING=1: it ends when its stdin closes.
const HELPER = String.raw`
import json, os, signal, socket, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for line in sys.stdin:
    try:
        sock.sendto(json.loads(line).encode("utf-8"), addr)
    except (OSError, ValueError) as e:
        sys.stderr.write("sd_notify to %s failed: %s\n" % (os.environ["NOTIFY_SOCKET"], e))
        sys.stderr.flush()
`;

const CLOSE_TIMEOUT_MS = 1000;

/** The watchdog period (ms) if systemd armed one for this process (WATCHDOG_PID absent or ours). */
export function watchdogPeriodMs(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return usec / 1000;
}

/** One datagram: `KEY=VALUE` lines. A value is one line (newlines become spaces). */
export function formatMessage(fields: Readonly<Record<string, string>>): string {
  return Object.entries(fields).map(([key, value]) => {
    if (!/^[A-Z0-9_]+$/.test(key)) throw new Error(`not an sd_notify key: ${key}`);
    return `${key}=${value.replace(/[\r\n]+/g, ' ')}`;
  }).join('\n');
}

const disabled: Notifier = {
  enabled: false,
  watchdogMs: undefined,
  ready() {},
  status() {},
  reloading() {},
  watchdog() {},
  stopping() {},
  send() {},
  close: () => Promise.resolve(),
};

export function createNotifier(env: NodeJS.ProcessEnv = process.env, options: NotifierOptions = {}): Notifier {
  const socketPath = env.NOTIFY_SOCKET;
  if (!socketPath) return disabled;
  const { log } = options;
  const watchdogMs = watchdogPeriodMs(env, options.pid);
  let closing = false;

  let helper: ChildProcess | undefined = spawn(options.python ?? 'python3', ['-u', '-c', HELPER], {
    env: { ...env, NOTIFY_SOCKET: socketPath },
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => {
    helper!.once('error', (err) => {
      log?.error({ err }, `cannot start the sd_notify helper (${options.python ?? 'python3'}): ${err.message}`);
      helper = undefined;
      resolve();
    });
    helper!.once('exit', (code, signal) => {
      if (helper && !closing) log?.error({ code, signal }, 'the sd_notify helper exited; systemd gets no more notifications');
      helper = undefined;
      resolve();
    });
  });
  helper.stdin!.on('error', () => {
    // EPIPE after the helper died: its exit is reported above.
  });
  helper.stderr!.setEncoding('utf8').on('data', (text: string) => {
    for (const line of text.split('\n')) if (line.trim()) log?.warn(line.trim());
  });
  // The helper must not keep the agent alive by itself.
  helper.unref();
  (helper.stdin as unknown as { unref?: () => void }).unref?.();
  (helper.stderr as unknown as { unref?: () => void }).unref?.();

  const send = (fields: Readonly<Record<string, string>>): void => {
    if (!helper || closing) return;
    helper.stdin!.write(`${JSON.stringify(formatMessage(fields))}\n`);
  };
  const withStatus = (fields: Record<string, string>, status: string | undefined): Record<string, string> =>
    status === undefined ? fields : { ...fields, STATUS: status };

  return {
    enabled: true,
    watchdogMs,
    ready: (status) => send(withStatus({ READY: '1' }, status)),
    status: (text) => send({ STATUS: text }),
    reloading: (status) => send(withStatus({ RELOADING: '1' }, status)),
    watchdog: () => send({ WATCHDOG: '1' }),
    stopping: (status) => send(withStatus({ STOPPING: '1' }, status)),
    send,
    async close() {
      if (closing) return exited;
      closing = true;
      const child = helper;
      if (!child) return;
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

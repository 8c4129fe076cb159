// A real AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET: a tiny python3 receiver
// binds it (Node cannot) and prints each datagram as one JSON line.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const RECEIVER = String.raw`
import json, socket, sys
addr = sys.argv[1]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(addr)
print(json.dumps({"bound": True}), flush=True)
while True:
    print(json.dumps({"msg": s.recv(65536).decode()}), flush=True)
`;

export interface NotifySocket {
  /** What NOTIFY_SOCKET is set to. */
  readonly address: string;
  /** Every datagram so far, in order of arrival. */
  readonly messages: string[];
  /** Resolves with the index of the first message at or after `from` that matches. */
  waitFor(match: (message: string) => boolean, options?: { from?: number; timeoutMs?: number }): Promise<number>;
  close(): void;
}

export async function openNotifySocket(address: string): Promise<NotifySocket> {
  const child: ChildProcess = spawn('python3', ['-u', '-c', RECEIVER, address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  const waiters = new Set<() => void>();
  let bound: () => void;
  const isBound = new Promise<void>((resolve) => {
    bound = resolve;
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const parsed = JSON.parse(line) as { bound?: boolean; msg?: string };
    if (parsed.bound) bound();
    if (parsed.msg !== undefined) messages.push(parsed.msg);
    for (const wake of waiters) wake();
  });
  const failed = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`notify receiver exited (${code})`))));
  await Promise.race([isBound, failed]);
  failed.catch(() => {});

  return {
    address,
    messages,
    waitFor(match, { from = 0, timeoutMs = 15_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const index = messages.findIndex((message, i) => i >= from && match(message));
          if (index < 0) return false;
          cleanup();
          resolve(index);
          return true;
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching sd_notify message within ${timeoutMs} ms; got ${JSON.stringify(messages.slice(from))}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(wake);
        };
        const wake = (): void => {
          check();
        };
        if (!check()) waiters.add(wake);
      });
    },
    close() {
      child.kill('SIGKILL');
    },
  };
}

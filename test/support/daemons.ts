// Loopback ports and daemon processes for test servers that take a port number (rsync, vsftpd).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const LOOPBACK = '127.0.0.1';

// Upper bound on a daemon's life: `timeout` ends it even if the test process dies without calling stop().
const DAEMON_LIFETIME_S = 600;
const STOP_GRACE_MS = 3_000;

/** A port that was free a moment ago; another process may take it before the caller binds (see startOnFreePort). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address for a loopback listener');
  return address.port;
}

/** Runs start(port) on fresh free ports until one works: test files run in parallel and may race for a port. */
async function startOnFreePort<T>(start: (port: number) => Promise<T>, attempts = 3): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

interface Daemon {
  /** Settles when the process has exited. */
  readonly exited: Promise<void>;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Ends the daemon and every process it forked; waits until it is gone. */
  stop(): Promise<void>;
}

/** Starts a foreground daemon in its own process group, bounded in time. */
function spawnDaemon(command: string, args: readonly string[], cwd: string): Daemon {
  // detached: own process group, so stop() also reaches the per-connection children rsync and vsftpd fork.
  const child = spawn('timeout', ['--kill-after=5', String(DAEMON_LIFETIME_S), command, ...args], {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    // 'exit', not 'close': forked children may hold the pipes open after the daemon itself is gone.
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      output += `${error.message}\n`;
      resolve();
    });
  });
  let running = true;
  void exited.then(() => (running = false));

  const killGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
    }
  };

  return {
    exited,
    output: () => output,
    async stop() {
      if (running) killGroup('SIGTERM');
      const gone = await Promise.race([exited.then(() => true), sleep(STOP_GRACE_MS, false)]);
      // The group may outlive its leader (a forked child still serving a client): always sweep it.
      killGroup('SIGKILL');
      if (!gone) await exited;
    },
  };
}

export interface ConfiguredDaemonOptions {
  /** Names its temp state dir and its config file there. */
  readonly name: string;
  /** The config file's text for a daemon on `port` with `stateDir`. */
  config(port: number, stateDir: string): string;
  /** The command line that runs the daemon in the foreground on `configFile`. */
  command(configFile: string): readonly [string, ...string[]];
}

export interface ConfiguredDaemon {
  readonly port: number;
  /** Ends the daemon and removes its state dir. */
  stop(): Promise<void>;
}

/** A daemon whose config file names its port, started on a free loopback port with a temp state dir of its own. */
export async function startConfiguredDaemon(options: ConfiguredDaemonOptions): Promise<ConfiguredDaemon> {
  const stateDir = await mkdtemp(path.join(tmpdir(), `${options.name}-`));
  try {
    return await startOnFreePort(async (port) => {
      const configFile = path.join(stateDir, `${options.name}.conf`);
      await writeFile(configFile, options.config(port, stateDir));
      const [command, ...args] = options.command(configFile);
      const daemon = spawnDaemon(command, args, stateDir);
      try {
        await waitForListening(port, daemon);
      } catch (error) {
        await daemon.stop();
        throw error;
      }
      return {
        port,
        async stop() {
          await daemon.stop();
          await rm(stateDir, { recursive: true, force: true });
        },
      };
    });
  } catch (error) {
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
}

/** Resolves once something accepts TCP connections on port; rejects if the daemon exits first or after timeoutMs. */
async function waitForListening(port: number, daemon: Daemon, timeoutMs = 10_000): Promise<void> {
  let exited = false;
  void daemon.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await accepts(port))) {
    if (exited) throw new Error(`daemon exited before listening on port ${port}: ${daemon.output().trim()}`);
    if (Date.now() > deadline) throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
    await sleep(25);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// A real rsync daemon on loopback, run without root (research reposync-anchors §4).
import path from 'node:path';
import { LOOPBACK, startConfiguredDaemon } from './daemons.js';

export interface RsyncDaemon {
  readonly port: number;
  /** `rsync://127.0.0.1:PORT/module/path`; path may hold globs, which the daemon expands. */
  url(module: string, path?: string): string;
  stop(): Promise<void>;
}

export interface RsyncDaemonOptions {
  /** Module name → directory it serves. */
  readonly modules: Readonly<Record<string, string>>;
}

export async function startRsyncDaemon(options: RsyncDaemonOptions): Promise<RsyncDaemon> {
  const daemon = await startConfiguredDaemon({
    name: 'rsyncd',
    config: (port, stateDir) => daemonConfig(port, stateDir, options.modules),
    command: (configFile) => ['rsync', '--daemon', '--no-detach', `--config=${configFile}`],
  });
  return {
    ...daemon,
    url: (module, modulePath = '') => `rsync://${LOOPBACK}:${daemon.port}/${module}/${modulePath.replace(/^\/+/, '')}`,
  };
}

function daemonConfig(port: number, stateDir: string, modules: Readonly<Record<string, string>>): string {
  // A daemon started by root switches to `nobody` by default, who cannot read 0700 test temp dirs: stay who we are.
  const global = [
    `uid = ${process.getuid?.() ?? 0}`,
    `gid = ${process.getgid?.() ?? 0}`,
    `port = ${port}`,
    `address = ${LOOPBACK}`,
    'use chroot = no',
    `pid file = ${path.join(stateDir, 'rsyncd.pid')}`,
    `lock file = ${path.join(stateDir, 'rsyncd.lock')}`,
    `log file = ${path.join(stateDir, 'rsyncd.log')}`,
  ];
  const sections = Object.entries(modules).map(([name, dir]) =>
    [`[${name}]`, `path = ${dir}`, 'read only = yes', 'list = yes'].join('\n'),
  );
  return `${[global.join('\n'), ...sections].join('\n\n')}\n`;
}

// A real FTP server on loopback with anonymous read-only access to one directory.
//
// vsftpd rather than pyftpdlib: it is already a Debian package of the CI image, and `run_as_launching_user`
// makes it serve any directory as the calling user (root or not) with no privilege drop, no chroot and no
// `ftp` account. pyftpdlib would need another package, and Debian installs it for
// /usr/bin/python3 only, which a pyenv `python3` earlier on PATH does not see.
import { LOOPBACK, startConfiguredDaemon } from './daemons.js';

export interface FtpServer {
  readonly port: number;
  /** `ftp://127.0.0.1:PORT/path`. */
  url(path?: string): string;
  stop(): Promise<void>;
}

export async function startFtpServer(options: { readonly root: string }): Promise<FtpServer> {
  const daemon = await startConfiguredDaemon({
    name: 'vsftpd',
    config: (port) => vsftpdConfig(port, options.root),
    command: (configFile) => ['vsftpd', configFile],
  });
  return { ...daemon, url: (filePath = '') => `ftp://${LOOPBACK}:${daemon.port}/${filePath.replace(/^\/+/, '')}` };
}

function vsftpdConfig(port: number, root: string): string {
  return [
    'listen=YES',
    `listen_address=${LOOPBACK}`,
    `listen_port=${port}`,
    'background=NO',
    'run_as_launching_user=YES',
    'anonymous_enable=YES',
    'no_anon_password=YES',
    `anon_root=${root}`,
    'local_enable=NO',
    'write_enable=NO',
    'pasv_enable=YES',
    `pasv_address=${LOOPBACK}`,
    // Anonymous users may otherwise only read world-readable files, and mkdtemp makes 0700 dirs.
    'anon_world_readable_only=NO',
    'xferlog_enable=NO',
    '',
  ].join('\n');
}

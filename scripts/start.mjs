// npm start: runs the agent on an embedded default under the checkout (var/): a local spool and
// repo dir, the bundled plugins and keys, metrics on loopback. The config is written once and is
// yours to edit afterwards.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const varDir = join(root, 'var');
const configPath = join(varDir, 'retrace-server.conf');
const dirs = { spool: 'spool', repos: 'repos', log: 'log', archive: 'archive', lock: 'lock', mock: 'mock', mockCache: 'mock-cache' };
for (const dir of Object.values(dirs)) mkdirSync(join(varDir, dir), { recursive: true });

if (!existsSync(configPath)) {
  writeFileSync(configPath, `# Written by npm start: a development default under ${varDir}.
[retrace]
SaveDir = ${join(varDir, dirs.spool)}
RepoDir = ${join(varDir, dirs.repos)}
LogDir = ${join(varDir, dirs.log)}
DropDir = ${join(varDir, dirs.archive)}
DeleteTaskAfter = 120
DeleteFailedTaskAfter = 24
ArchiveTaskAfter = 0
RequireGPGCheck = 1

[agent]
ListenAddress = 127.0.0.1:9464
LockDir = ${join(varDir, dirs.lock)}
MockRootDir = ${join(varDir, dirs.mock)}
MockCacheDir = ${join(varDir, dirs.mockCache)}
GpgDir = ${join(root, 'gpg')}
`);
  console.log(`wrote ${configPath}`);
}

const agent = spawn(process.execPath, [
  '--max-semi-space-size=2', '--expose-gc', // as in the agent's shebang, with MALLOC_ARENA_MAX: see src/cli/agent.ts
  join(root, 'dist', 'cli', 'agent.js'),
  '--config', configPath,
  '--plugin-dir', join(root, 'plugins'),
  ...process.argv.slice(2),
], { stdio: 'inherit', env: { ...process.env, MALLOC_ARENA_MAX: '1' } });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => agent.kill(signal));
agent.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

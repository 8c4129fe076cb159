// The typed keys of retrace-server.conf: upstream's [retrace] keys with their *code* defaults
// (src/retrace/config.py.in) and the agent's own [agent] section (SPEC §2).
// A value is typed by its default, as upstream does: int, bool, list (whitespace-split) or string.

export type KeyType = 'int' | 'bool' | 'list' | 'string';

export interface KeySpec<T> {
  /** The option name as upstream spells it. */
  readonly name: string;
  readonly type: KeyType;
  readonly default: T;
  /** Lowest accepted value for ints. */
  readonly min?: number;
}

const int = (name: string, value: number, min?: number): KeySpec<number> => ({ name, type: 'int', default: value, ...(min === undefined ? {} : { min }) });
const bool = (name: string, value: boolean): KeySpec<boolean> => ({ name, type: 'bool', default: value });
const str = (name: string, value: string): KeySpec<string> => ({ name, type: 'string', default: value });
const list = (name: string, value: readonly string[]): KeySpec<readonly string[]> => ({ name, type: 'list', default: value });

export const retraceKeys = {
  saveDir: str('SaveDir', '/var/spool/retrace-server'),
  repoDir: str('RepoDir', '/var/cache/retrace-server'),
  logDir: str('LogDir', '/var/log/retrace-server'),
  dropDir: str('DropDir', '/srv/retrace/archive'),
  workDir: str('WorkDir', '/tmp/retrace-server'),
  kojiRoot: str('KojiRoot', '/mnt/koji'),
  dbFile: str('DBFile', 'stats.db'),
  taskIdLength: int('TaskIdLength', 9, 1),
  taskPassLength: int('TaskPassLength', 32, 1),
  maxParallelTasks: int('MaxParallelTasks', 10),
  maxPackedSize: int('MaxPackedSize', 30),
  maxUnpackedSize: int('MaxUnpackedSize', 600),
  minStorageLeft: int('MinStorageLeft', 10240),
  deleteTaskAfter: int('DeleteTaskAfter', 120),
  deleteFailedTaskAfter: int('DeleteFailedTaskAfter', 24),
  archiveTaskAfter: int('ArchiveTaskAfter', 0),
  keepRawhideLatest: int('KeepRawhideLatest', 3, 1),
  processCommunicateTimeout: int('ProcessCommunicateTimeout', 43200),
  useWorkDir: bool('UseWorkDir', false),
  requireHttps: bool('RequireHTTPS', true),
  allowApiDelete: bool('AllowAPIDelete', false),
  allowExternalDir: bool('AllowExternalDir', false),
  allowInteractive: bool('AllowInteractive', false),
  allowMetrics: bool('AllowMetrics', false),
  allowTaskManager: bool('AllowTaskManager', false),
  allowVmcoreTask: bool('AllowVMCoreTask', false),
  allowUsrCoreTask: bool('AllowUsrCoreTask', false),
  taskManagerAuthDelete: bool('TaskManagerAuthDelete', false),
  taskManagerDeleteUsers: list('TaskManagerDeleteUsers', []),
  useFtpTasks: bool('UseFTPTasks', false),
  requireGpgCheck: bool('RequireGPGCheck', true),
  useCreaterepoUpdate: bool('UseCreaterepoUpdate', false),
  useFafPackages: bool('UseFafPackages', false),
  fafLinkDir: str('FafLinkDir', '/var/spool/faf'),
  calculateMd5: bool('CalculateMd5', true),
  emailNotify: bool('EmailNotify', false),
  authGroup: str('AuthGroup', 'retrace'),
  retraceEnvironment: str('RetraceEnvironment', 'mock'),
  kernelChrootRepo: str('KernelChrootRepo', 'http://dl.fedoraproject.org/pub/fedora/linux/releases/16/Everything/$ARCH/os/'),
  kernelDebuggerPath: str('KernelDebuggerPath', '/usr/bin/crash'),
} as const;

export const agentKeys = {
  listenAddress: str('ListenAddress', '127.0.0.1:9464'),
  maxTaskRuntime: int('MaxTaskRuntime', 3600, 1),
  orphanGrace: int('OrphanGrace', 600, 0),
  killGrace: int('KillGrace', 5, 0),
  reconcileInterval: int('ReconcileInterval', 60, 1),
  mockRootDir: str('MockRootDir', '/var/lib/mock'),
  mockCacheDir: str('MockCacheDir', '/var/cache/mock'),
  workerCommand: str('WorkerCommand', 'retrace-server-worker'),
  syncReleases: list('SyncReleases', []),
  syncInterval: int('SyncInterval', 43200, 1),
  staleRepoAfter: int('StaleRepoAfter', 172800, 1),
  lockDir: str('LockDir', '/tmp'),
  gpgDir: str('GpgDir', '/usr/share/retrace-server/gpg'),
} as const;

type ValuesOf<S extends Record<string, KeySpec<unknown>>> = { readonly [K in keyof S]: S[K]['default'] };

export type RetraceSettings = ValuesOf<typeof retraceKeys>;
export type AgentSettingsRaw = ValuesOf<typeof agentKeys>;

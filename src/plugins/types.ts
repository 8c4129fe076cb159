/** One repository of a distribution: mirrors tried in order, plus an optional INI snippet for that repo only. */
export interface RepoSpec {
  /** URLs (rsync://, http(s)://, ftp://) or local paths; may hold $VER and $ARCH, local paths may hold globs. */
  readonly mirrors: readonly string[];
  readonly localConfig: string | undefined;
}

/** A distribution plugin, from a native module or a Python plugin file, validated (SPEC §3). */
export interface DistributionPlugin {
  readonly distribution: string;
  readonly repos: readonly RepoSpec[];
  /** Matches an os_release text; group 1 is the version. */
  readonly abrtparser: RegExp | undefined;
  /** Searched in a package NVR; group 1 is the version. */
  readonly guessparser: RegExp | undefined;
  /** Global dnf/yum INI snippet for every repo (dnfcfg wins when both are set). */
  readonly dnfcfg: string | undefined;
  readonly displayrelease: string | undefined;
  readonly versionlist: readonly string[] | undefined;
  readonly gdbPackage: string | undefined;
  readonly gdbExecutable: string | undefined;
  /** Key file paths; `{release}` is replaced by the version. */
  readonly gpgKeys: readonly string[];
  /** Where it came from. */
  readonly file: string;
}

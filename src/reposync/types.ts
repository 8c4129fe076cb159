// The contract between the reposync orchestrator (one release: lock, layout, repos in turn,
// createrepo) and the mirror transports (local dir, rsync, http(s), ftp) that bring packages in.

import type { Logger } from '../log.js';
import type { ReleaseId } from '../plugins/release.js';
import type { SigningKeys } from '../rpm/signing-keys.js';

/** Why a package was refused; the label of retrace_agent_repo_packages_rejected_total. */
export type RejectReason =
  | 'bad_location' // unsafe name or xml:base in metadata (SPEC §7.3)
  | 'size_mismatch'
  | 'checksum_mismatch'
  | 'download_failed'
  | 'unsigned'
  | 'unknown_key'
  | 'bad_signature'
  | 'payload_digest_mismatch'
  | 'corrupt'
  | 'unsupported_algorithm'
  | 'excluded';

export type PackageVerdict = { readonly ok: true; readonly detail?: string } | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

/** The dnf/yum INI keys reposync honours (SPEC §7.2), from the plugin's dnfcfg and the repo's own cfg. */
export interface RepoOptions {
  readonly gpgcheck: boolean;
  readonly sslverify: boolean;
  readonly sslcacert: string | undefined;
  readonly proxy: string | undefined;
  /** Seconds without progress before a transfer is abandoned. */
  readonly timeoutSeconds: number;
  readonly retries: number;
  readonly maxParallelDownloads: number;
  /** Globs on package names; empty = all. */
  readonly includepkgs: readonly string[];
  readonly exclude: readonly string[];
}

/** The files a keyring is loaded from (loadKeyring). */
export interface KeyringSource {
  readonly gpgDir: string;
  readonly extraKeyFiles: readonly string[];
}

/** The trusted keys packages are checked against, when gpgcheck is on. */
export interface PackageKeys {
  /** The files the keyring is loaded from: when they change, packages refused before are checked again. */
  readonly source: KeyringSource;
  /** The keyring's keys prepared for node:crypto (signingKeysOf), once per sync of a release. */
  signingKeys(): Promise<SigningKeys>;
}

export interface RejectedPackage {
  readonly file: string;
  readonly reason: RejectReason;
  readonly detail: string;
}

/** Where a sync reports how far it got (the CLI's progress bar); every call is optional to act on. */
export interface SyncProgress {
  /** The orchestrator starts repo `index` (from 1) of `count` with this mirror. */
  repo(index: number, count: number, mirror: string): void;
  /** A transport found more packages to bring in; `bytes` is their size when known, else 0. */
  planned(packages: number, bytes: number): void;
  /** Packages went through admission, admitted or refused; `bytes` is the admitted size. */
  done(packages: number, bytes: number): void;
}

export interface MirrorSyncContext {
  readonly release: ReleaseId;
  /** RepoDir/<dist>-<ver>-<arch>/Packages: only whole, verified packages ever appear here. */
  readonly packagesDir: string;
  /** A private dir on the same filesystem as packagesDir but outside the repo tree (createrepo_c indexes hidden dirs too). */
  readonly stagingDir: string;
  /** Where refused packages go, each with `<file>.reason.json`. */
  readonly quarantineDir: string;
  /** A dir the transport may keep state in between runs (e.g. the last repomd.xml seen per mirror). */
  readonly stateDir: string;
  readonly options: RepoOptions;
  /**
   * Rawhide: only the newest this many versions of each (name, arch) stay after the sync (rawhide.ts). A transport
   * that reads the versions from metadata before fetching leaves the older ones out.
   */
  readonly keepNewestVersions?: number;
  /** Every package passes this (signature and payload digest when gpgcheck) before it enters packagesDir. */
  verifyPackage(stagedPath: string): Promise<PackageVerdict>;
  /**
   * The trusted keys verifyPackage checks against, when it checks signatures. A transport that holds a package in
   * memory may then run the same check (verifyRpmBytes with these keys) on its own thread, on those bytes, instead
   * of calling verifyPackage on the staged file.
   */
  readonly verifyKeys?: PackageKeys;
  readonly log: Logger;
  readonly progress?: SyncProgress;
  /** Aborted when the agent stops: transports stop promptly and leave nothing partial in packagesDir. */
  readonly signal: AbortSignal;
}

export interface MirrorSyncResult {
  /** The mirror served the repo (even if some packages were refused). */
  readonly ok: boolean;
  readonly detail: string;
  /** Packages newly admitted into packagesDir. */
  readonly admitted: number;
  readonly bytes: number;
  readonly rejected: readonly RejectedPackage[];
  /** The mirror's metadata was the same as at the last successful run, so nothing was parsed or fetched. */
  readonly unchanged: boolean;
}

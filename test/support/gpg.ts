// Real OpenPGP keys made by the real `gpg` binary in a throwaway GNUPGHOME, for tests of key loading and
// (with rpmsign) package signatures.
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface GpgKeyInfo {
  /** 40 upper-case hex digits, as gpg prints it. */
  readonly fingerprint: string;
  /** 16 upper-case hex digits each: primary key first, then subkeys, as gpg lists them. */
  readonly keyIds: readonly string[];
  readonly userId: string;
}

export interface GenerateKeyOptions {
  /** A gpg --quick-gen-key algorithm: 'ed25519' (default), 'rsa3072', 'rsa1024', 'dsa2048', … */
  readonly algorithm?: string;
  /** Usage of the primary key: 'sign' (default), or e.g. 'cert' for a key whose primary cannot sign. */
  readonly usage?: string;
  /** gpg expiry: 'never' (default), '1y', 'seconds=N', … counted from createdAt. */
  readonly expire?: string;
  /** Backdates the key with --faked-system-time; with a short expire this makes an already-expired key. */
  readonly createdAt?: Date;
}

export interface GpgHome {
  /** The GNUPGHOME holding the secret keys (no passphrase); rpmsign needs it in its environment. */
  readonly home: string;
  /** Environment for a child process (rpmsign, gpg) that must use this home. */
  readonly env: Readonly<Record<string, string>>;
  generateKey(userId: string, options?: GenerateKeyOptions): Promise<GpgKeyInfo>;
  /** Adds a subkey (e.g. 'ed25519' 'sign' or 'cv25519' 'encr') and returns the key's updated info. */
  addSubkey(fingerprint: string, algorithm: string, usage: string): Promise<GpgKeyInfo>;
  /** Revokes the key by importing the revocation certificate gpg wrote when it made the key. */
  revoke(fingerprint: string): Promise<void>;
  exportArmored(fingerprints: readonly string[]): Promise<string>;
  exportBinary(fingerprints: readonly string[]): Promise<Uint8Array>;
  /** Runs gpg in this home with the batch options; returns stdout. */
  gpg(args: readonly string[]): Promise<string>;
  /** Kills this home's gpg-agent and removes the directory; safe to call twice. */
  cleanup(): Promise<void>;
}

const BATCH = ['--batch', '--pinentry-mode', 'loopback', '--passphrase', ''];

/** `rpmsign` arguments that sign with this key: Debian's default %__gpg (/usr/bin/gpg2) does not exist. */
export function rpmsignDefines(fingerprint: string): string[] {
  return ['--define', '__gpg /usr/bin/gpg', '--define', `_gpg_name ${fingerprint}`];
}

export async function createGpgHome(): Promise<GpgHome> {
  // Short path under tmpdir: gpg-agent's socket path must fit in sockaddr_un.
  const home = await mkdtemp(path.join(tmpdir(), 'gpg-'));
  const env = { GNUPGHOME: home };

  const gpg = async (args: readonly string[]): Promise<string> =>
    (await execa('gpg', [...BATCH, ...args], { env })).stdout;

  const info = async (fingerprint: string): Promise<GpgKeyInfo> => parseColons(await gpg(['--with-colons', '--list-keys', fingerprint]));

  const exportKeys = async (args: readonly string[], fingerprints: readonly string[]): Promise<Buffer> => {
    if (fingerprints.length === 0) throw new Error('exportKeys: no fingerprints');
    const { stdout } = await execa('gpg', [...BATCH, ...args, '--export', ...fingerprints], {
      env,
      encoding: 'buffer',
      // Exported bytes exactly as gpg wrote them: armor ends with a newline that concatenation relies on.
      stripFinalNewline: false,
    });
    return Buffer.from(stdout);
  };

  return {
    home,
    env,
    gpg,
    async generateKey(userId, options = {}) {
      const faked = options.createdAt ? ['--faked-system-time', gpgIsoTime(options.createdAt)] : [];
      const status = await gpg([
        '--status-fd', '1',
        ...faked,
        '--quick-gen-key', userId, options.algorithm ?? 'ed25519', options.usage ?? 'sign', options.expire ?? 'never',
      ]);
      const fingerprint = /^\[GNUPG:\] KEY_CREATED \w (?<fpr>[0-9A-F]{40})/m.exec(status)?.groups?.fpr;
      if (!fingerprint) throw new Error(`gpg made no key for ${userId}: ${status}`);
      return info(fingerprint);
    },
    async addSubkey(fingerprint, algorithm, usage) {
      await gpg(['--quick-add-key', fingerprint, algorithm, usage, 'never']);
      return info(fingerprint);
    },
    async revoke(fingerprint) {
      const certificate = await readFile(path.join(home, 'openpgp-revocs.d', `${fingerprint}.rev`), 'utf8');
      // gpg puts a ':' before the armor line so that the certificate cannot be imported by accident.
      const armored = certificate.replace(/^:-----BEGIN/m, '-----BEGIN');
      await execa('gpg', [...BATCH, '--import'], { env, input: armored });
    },
    async exportArmored(fingerprints) {
      return (await exportKeys(['--armor'], fingerprints)).toString('utf8');
    },
    async exportBinary(fingerprints) {
      return new Uint8Array(await exportKeys([], fingerprints));
    },
    async cleanup() {
      await execa('gpgconf', ['--kill', 'all'], { env, reject: false });
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** gpg's --faked-system-time form, in UTC: 20200101T000000. */
function gpgIsoTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, '').replaceAll(/[-:]/g, '');
}

function parseColons(colons: string): GpgKeyInfo {
  const records = colons.split('\n').map((line) => line.split(':'));
  const keyIds: string[] = [];
  let fingerprint: string | undefined;
  let userId: string | undefined;
  let previous: string | undefined;
  for (const record of records) {
    const [type] = record;
    if (type === 'pub' || type === 'sub') keyIds.push(record[4] ?? '');
    // The first fpr record after pub is the primary key's; later ones belong to subkeys.
    if (type === 'fpr' && previous === 'pub') fingerprint = record[9];
    if (type === 'uid' && userId === undefined) userId = record[9];
    previous = type;
  }
  if (!fingerprint || userId === undefined || keyIds.length === 0) throw new Error(`unexpected gpg --with-colons output:\n${colons}`);
  return { fingerprint, keyIds, userId };
}

// Trusted keys for package signatures (SPEC §4): every key file in GpgDir plus a plugin's gpg_keys.
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { readKeys, type PublicKey } from 'openpgp';

export interface TrustedKey {
  /** Upper-case hex. */
  readonly fingerprint: string;
  /** Primary key and subkeys, 16 upper-case hex digits each. */
  readonly keyIds: readonly string[];
  readonly userIds: readonly string[];
  /** Primary key algorithm as OpenPGP.js names it, with size or curve: `rsaEncryptSign/3072`, `eddsaLegacy/ed25519Legacy`. */
  readonly algorithm: string;
  /** The first file the key was found in (paths are absolute). */
  readonly file: string;
  /** Every file holding a copy of the key, in load order; `key` merges them all. */
  readonly files: readonly string[];
  readonly key: PublicKey;
}

export type KeyProblemReason = 'expired' | 'revoked' | 'weak' | 'unparsable' | 'no_signing_key' | 'unreadable';

export interface KeyProblem {
  readonly file: string;
  readonly fingerprint: string | undefined;
  readonly reason: KeyProblemReason;
  readonly detail: string;
}

export interface Keyring {
  readonly keys: readonly TrustedKey[];
  readonly problems: readonly KeyProblem[];
  /** keys by 16-hex key id (primary and subkeys) */
  findByKeyId(keyId: string): readonly TrustedKey[];
}

const ARMOR_BEGIN = /^-----BEGIN PGP PUBLIC KEY BLOCK-----\r?$/gm;

// OpenPGP.js says a key is too weak only in error messages (checkKeyRequirements, hash checks of self-signatures).
const WEAK_MESSAGE = /too weak|is disabled|Insecure hash algorithm/;

export async function loadKeyring(options: {
  gpgDir: string;
  extraKeyFiles?: readonly string[];
  now?: Date;
}): Promise<Keyring> {
  const now = options.now ?? new Date();
  const problems: KeyProblem[] = [];
  const files = [...(await listKeyDir(path.resolve(options.gpgDir), problems)), ...(options.extraKeyFiles ?? [])];

  // Copies of one key are merged rather than first-wins, so that a revocation or a renewed expiry in any file counts.
  const byFingerprint = new Map<string, { files: string[]; key: PublicKey }>();
  for (const file of new Set(files.map((file) => path.resolve(file)))) {
    for (const key of await readKeyFile(file, problems)) {
      const fingerprint = key.getFingerprint().toUpperCase();
      const seen = byFingerprint.get(fingerprint);
      if (!seen) {
        byFingerprint.set(fingerprint, { files: [file], key });
        continue;
      }
      try {
        seen.key = await seen.key.update(key, now);
        seen.files.push(file);
      } catch (error) {
        const detail = `cannot merge with the copy in ${seen.files[0]}: ${message(error)}`;
        problems.push({ file, fingerprint, reason: 'unparsable', detail });
      }
    }
  }

  const keys: TrustedKey[] = [];
  for (const [fingerprint, { files: keyFiles, key }] of byFingerprint) {
    const [file = '', ...others] = keyFiles;
    const problem = await assess(key, now);
    if (problem) {
      const where = others.length > 0 ? ` (also in ${others.join(', ')})` : '';
      problems.push({ file, fingerprint, reason: problem.reason, detail: problem.detail + where });
      continue;
    }
    keys.push({
      fingerprint,
      keyIds: key.getKeyIDs().map((id) => id.toHex().toUpperCase()),
      userIds: key.getUserIDs(),
      algorithm: describeAlgorithm(key),
      file,
      files: keyFiles,
      key,
    });
  }

  const byKeyId = new Map<string, TrustedKey[]>();
  for (const trusted of keys) {
    for (const keyId of trusted.keyIds) byKeyId.set(keyId, [...(byKeyId.get(keyId) ?? []), trusted]);
  }
  return { keys, problems, findByKeyId: (keyId) => byKeyId.get(keyId.toUpperCase()) ?? [] };
}

/** Key files in the directory, sorted; subdirectories and dotfiles are not key files. */
async function listKeyDir(dir: string, problems: KeyProblem[]): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => !name.startsWith('.')).sort();
  } catch (error) {
    problems.push({ file: dir, fingerprint: undefined, reason: 'unreadable', detail: message(error) });
    return [];
  }
  const files: string[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    // stat follows symlinks (distributions link versioned key names); a dangling link is left for readKeyFile to report.
    const info = await stat(file).catch(() => undefined);
    if (!info?.isDirectory()) files.push(file);
  }
  return files;
}

async function readKeyFile(file: string, problems: KeyProblem[]): Promise<PublicKey[]> {
  const unparsable = (detail: string): void => {
    problems.push({ file, fingerprint: undefined, reason: 'unparsable', detail });
  };
  let bytes: Buffer;
  try {
    // Only regular files: reading a FIFO would block the load.
    if (!(await stat(file)).isFile()) throw new Error('not a regular file');
    bytes = await readFile(file);
  } catch (error) {
    problems.push({ file, fingerprint: undefined, reason: 'unreadable', detail: message(error) });
    return [];
  }

  // readKeys reads every key of binary data but only the first armor block of a text, hence the split.
  // Editors on Windows save key files with a byte-order mark, which would hide the first BEGIN line.
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  const starts = [...text.matchAll(ARMOR_BEGIN)].map((match) => match.index);
  if (starts.length === 0) {
    // A binary OpenPGP packet starts with a tag byte whose high bit is set.
    if (((bytes[0] ?? 0) & 0x80) === 0) {
      unparsable(bytes.length === 0 ? 'empty file' : 'neither binary OpenPGP data nor a PGP PUBLIC KEY BLOCK');
      return [];
    }
    try {
      return (await readKeys({ binaryKeys: bytes })).map(toPublic);
    } catch (error) {
      unparsable(message(error));
      return [];
    }
  }
  const keys: PublicKey[] = [];
  for (const [index, start] of starts.entries()) {
    try {
      keys.push(...(await readKeys({ armoredKeys: text.slice(start, starts[index + 1]) })).map(toPublic));
    } catch (error) {
      unparsable(`key block ${index + 1}: ${message(error)}`);
    }
  }
  return keys;
}

/** Why the key must not be trusted at `now`, or undefined when it can be. */
async function assess(key: PublicKey, now: Date): Promise<{ reason: KeyProblemReason; detail: string } | undefined> {
  if (await key.isRevoked(undefined, undefined, now)) return { reason: 'revoked', detail: 'primary key is revoked' };
  // OpenPGP.js would accept an expired key for signatures made before the expiry; our policy does not.
  const expiration = await key.getExpirationTime();
  if (expiration instanceof Date && expiration <= now) {
    return { reason: 'expired', detail: `expired on ${expiration.toISOString()}` };
  }
  // Throws unless a (sub)key can sign at `now` under the default config (minRSABits, rejected algorithms and curves).
  try {
    await key.getSigningKey(undefined, now);
  } catch (error) {
    const detail = message(error);
    return { reason: WEAK_MESSAGE.test(detail) ? 'weak' : 'no_signing_key', detail };
  }
  return undefined;
}

function describeAlgorithm(key: PublicKey): string {
  const { algorithm, bits, curve } = key.getAlgorithmInfo();
  return [algorithm, bits, curve].filter((part) => part !== undefined).join('/');
}

// A secret key file in GpgDir is a mistake, but only its public part is ever needed.
function toPublic(key: PublicKey): PublicKey {
  return key.isPrivate() ? key.toPublic() : key;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

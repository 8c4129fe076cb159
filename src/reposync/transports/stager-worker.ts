// A staging thread's program (see stager.ts): downloads with its own http(s) client, plain blocking file calls,
// hashing, and the signature check of a package from its bytes, with the keys the main thread prepared for this
// sync (node:crypto key objects: no OpenPGP.js here unless a signature needs it).
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { Keyring } from '../../gpg/keyring.js';
import type { SigningKeys } from '../../rpm/signing-keys.js';
import type { VerifyKeys } from '../../rpm/verify.js';
import type { KeyringSource, PackageVerdict } from '../types.js';
import { httpRemote } from './http.js';
import { RemoteError, type Hold, type Remote } from './remote.js';
import { BufferPool } from '../../buffer-pool.js';
import { limiter } from '../../each-limited.js';
import { startsWithLead } from '../../rpm/header.js';
import type { StagedPackage, StagerReply, StagerRequest, StagerThreadSetup, ThreadDownload } from './stager.js';

const setup = workerData as StagerThreadSetup;
// This thread's share of max_parallel_downloads; the fetches beyond it wait for a transfer to end, here, so
// that the next starts without a round trip to the main thread.
const transfer = limiter(Math.max(1, setup.transfers));
const remote: Promise<Remote> = httpRemote(setup.http);
// A client that cannot be set up (an unreadable sslcacert) fails each fetch, not the thread.
remote.catch(() => {});
const fetches = new Map<number, AbortController>();
// The memory packages are held in, used again once each is staged; as much stays free as a few large packages need.
const buffers = new BufferPool(16 * 1024 * 1024);
// Loaded on the first check only: without keys the thread never needs the rpm reader.
let verifier: Promise<(bytes: Uint8Array, keys: VerifyKeys) => Promise<PackageVerdict>> | undefined;
/** The keys of the sync under way: each 'warm' (a new sync) waits for the 'keys' naming it. */
let syncKeys: Promise<VerifyKeys> | undefined;
let currentWarm: number | undefined;
let deliverKeys: ((keys: SigningKeys | Error) => void) | undefined;

async function loadVerifier(): Promise<(bytes: Uint8Array, keys: VerifyKeys) => Promise<PackageVerdict>> {
  const [{ verifyRpmBytes }, { packageVerdict }] = await Promise.all([import('../../rpm/verify.js'), import('../package-verdict.js')]);
  return (bytes, keys) => packageVerdict(() => verifyRpmBytes(bytes, keys));
}

function awaitKeys(): void {
  syncKeys = new Promise((resolve, reject) => {
    deliverKeys = (keys) => (keys instanceof Error ? reject(keys) : resolve(verifyKeys(keys)));
  });
  // A sync that never stages a package never looks.
  syncKeys.catch(() => {});
}

function verifyKeys(signing: SigningKeys): VerifyKeys {
  let keyring: Promise<Keyring> | undefined;
  // Only for a signature node:crypto does not check (DSA, ECDSA, V6 packets), loaded from the main thread's files.
  const load = async (): Promise<Keyring> => (await import('../../gpg/keyring.js')).loadKeyring(setup.keys as KeyringSource);
  return { signing, keyring: () => (keyring ??= load()) };
}

async function stage(dest: string, bytes: Buffer, digestType: string): Promise<StagedPackage> {
  const digest = createHash(digestType).update(bytes).digest('hex');
  writeFileSync(dest, bytes);
  const lead = startsWithLead(bytes);
  if (!lead || setup.keys === undefined) return { digest, lead };
  // Keys that could not be prepared fail the fetch (and the sync), not the package.
  const keys = await (syncKeys ?? Promise.reject(new Error('no keys were sent for this sync')));
  const verify = await (verifier ??= loadVerifier());
  return { digest, lead, verdict: await verify(bytes, keys) };
}

async function fetch(request: Extract<StagerRequest, { op: 'fetch' }>): Promise<ThreadDownload> {
  const controller = new AbortController();
  fetches.set(request.id, controller);
  try {
    const client = await remote;
    const hold: Hold | undefined = request.holdUpTo > 0 ? { upTo: request.holdUpTo, buffer: (length) => buffers.take(length) } : undefined;
    const { bytes, ...got } = await transfer(() => client.download(new URL(request.url), request.dest, controller.signal, request.have, request.digest, hold));
    if (bytes === undefined) return got;
    // Staged at once, here: a second round trip to the main thread per package would cost more than it decides.
    try {
      return { ...got, staged: await stage(request.dest, bytes, request.digest) };
    } finally {
      // Staging has settled: its hash, write and verdict are done with the bytes (the verdict holds no view of them).
      buffers.give(bytes);
    }
  } finally {
    fetches.delete(request.id);
  }
}

async function serve(request: StagerRequest): Promise<StagerReply> {
  switch (request.op) {
    case 'fetch':
      return { id: request.id, ok: true, download: await fetch(request) };
    case 'abort':
      fetches.get(request.target)?.abort(new Error('aborted'));
      return { id: request.id, ok: true };
    case 'warm':
      // A new sync (a kept thread serves several; see stager.ts): its keys come next, maybe changed.
      currentWarm = request.id;
      if (setup.keys !== undefined) awaitKeys();
      await remote;
      return { id: request.id, ok: true };
    case 'keys':
      if (request.warm === currentWarm) deliverKeys?.(request.keys ?? new Error(request.error ?? 'no keys'));
      return { id: request.id, ok: true };
  }
}

parentPort?.on('message', (request: StagerRequest) => {
  serve(request).then(
    (reply) => parentPort?.postMessage(reply),
    (error: unknown) => {
      const { message, code, name } = error as NodeJS.ErrnoException;
      parentPort?.postMessage({
        id: request.id,
        ok: false,
        message: String(message),
        ...(code === undefined ? {} : { code }),
        ...(error instanceof RemoteError ? { retryable: error.retryable } : {}),
        ...(name === 'AbortError' ? { aborted: true } : {}),
      } satisfies StagerReply);
    },
  );
});

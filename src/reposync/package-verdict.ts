// A signature check's result as reposync records it: the reason a package is refused, or who signed it.
import type { VerifyResult } from '../rpm/verify.js';
import type { PackageVerdict } from './types.js';

/** Runs a check; a package it cannot even read is 'corrupt'. */
export async function packageVerdict(check: () => Promise<VerifyResult>): Promise<PackageVerdict> {
  try {
    const result = await check();
    return result.ok ? { ok: true, detail: `signed by ${result.keyId}` } : { ok: false, reason: result.reason, detail: result.detail };
  } catch (error) {
    return { ok: false, reason: 'corrupt', detail: `cannot read the package: ${(error as Error).message}` };
  }
}

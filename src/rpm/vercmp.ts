// rpm's version ordering (rpmio/rpmvercmp.c and rpmdsCompareEVR), so "newest" means what dnf and rpm mean by it.

export interface Evr {
  /** 0 when the package has none, as rpm treats a missing epoch. */
  readonly epoch: number;
  readonly version: string;
  readonly release: string;
}

const ALNUM = /[A-Za-z0-9]/;
const DIGIT = /[0-9]/;
const ALPHA = /[A-Za-z]/;

/** -1, 0 or 1 as rpmvercmp: segments of digits or letters, `~` sorts before anything, `^` after the base only. */
export function rpmvercmp(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.length && !ALNUM.test(a[i] as string) && a[i] !== '~' && a[i] !== '^') i++;
    while (j < b.length && !ALNUM.test(b[j] as string) && b[j] !== '~' && b[j] !== '^') j++;

    // A tilde sorts before everything, even the end of the string.
    if (a[i] === '~' || b[j] === '~') {
      if (a[i] !== '~') return 1;
      if (b[j] !== '~') return -1;
      i++;
      j++;
      continue;
    }
    // A caret sorts after the end of the string but before any other segment.
    if (a[i] === '^' || b[j] === '^') {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== '^') return 1;
      if (b[j] !== '^') return -1;
      i++;
      j++;
      continue;
    }
    if (i >= a.length || j >= b.length) break;

    const numeric = DIGIT.test(a[i] as string);
    const kind = numeric ? DIGIT : ALPHA;
    let ei = i;
    let ej = j;
    while (ei < a.length && kind.test(a[ei] as string)) ei++;
    while (ej < b.length && kind.test(b[ej] as string)) ej++;
    let left = a.slice(i, ei);
    let right = b.slice(j, ej);
    // Segments of different kinds: a number is newer than letters.
    if (right.length === 0) return numeric ? 1 : -1;
    if (numeric) {
      left = left.replace(/^0+/, '');
      right = right.replace(/^0+/, '');
      if (left.length !== right.length) return left.length > right.length ? 1 : -1;
    }
    if (left !== right) return left < right ? -1 : 1;
    i = ei;
    j = ej;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

/** Epoch first, then version, then release: rpm's labelCompare with a missing epoch as 0. */
export function compareEvr(a: Evr, b: Evr): -1 | 0 | 1 {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return rpmvercmp(a.version, b.version) || rpmvercmp(a.release, b.release);
}

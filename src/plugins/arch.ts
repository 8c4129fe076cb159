// Upstream src/retrace/architecture.py: the arch names a repo directory is keyed by.

const ARCH_MAP: Readonly<Record<string, readonly string[]>> = {
  i386: ['i386', 'i486', 'i586', 'i686'],
  armhfp: ['armhfp', 'armel', 'armv5tel', 'armv7l', 'armv7hl', 'armv7hnl'],
  x86_64: ['x86_64'],
  s390x: ['s390x'],
  ppc64: ['ppc64'],
  ppc64le: ['ppc64le'],
  aarch64: ['aarch64'],
};

/** The canonical arch for `arch` (i686 → i386, armv7hl → armhfp); unknown arches pass through unchanged. */
export function canonicalArch(arch: string): string {
  for (const [canonical, aliases] of Object.entries(ARCH_MAP)) {
    if (aliases.includes(arch)) return canonical;
  }
  return arch;
}

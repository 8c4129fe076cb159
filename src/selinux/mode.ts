// The SELinux mode, read the way getenforce(8) does: selinuxfs (/sys/fs/selinux) holds `enforce`
// ("1" enforcing, "0" permissive); no selinuxfs, or no `enforce` in it, means SELinux is disabled.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SELINUX_MODES = ['enforcing', 'permissive', 'disabled'] as const;
export type SelinuxMode = (typeof SELINUX_MODES)[number];

export const SELINUXFS = '/sys/fs/selinux';

/** `root` is the filesystem root to look under (tests point it at a fake tree). */
export function readSelinuxMode(root = '/'): SelinuxMode {
  let text: string;
  try {
    text = readFileSync(join(root, SELINUXFS, 'enforce'), 'utf8');
  } catch {
    return 'disabled';
  }
  return text.trim() === '1' ? 'enforcing' : 'permissive';
}

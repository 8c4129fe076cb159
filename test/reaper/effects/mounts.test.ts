import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mountsAtOrBelow, parseMountInfo, unmountBelow } from '../../../src/reaper/effects/mounts.js';
import { bindMount, createEffectsEnv, mountPointsBelow, type EffectsEnv } from '../fixtures/effects.js';

const MOUNTINFO = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '42 27 254:0 /tmp/src /var/lib/mock/123\\040x/root/proc rw,relatime shared:1 - ext4 /dev/vda rw',
  '43 42 254:0 /tmp/a\\134b /var/lib/mock/123\\040x/root/proc/sub\\011tab rw - ext4 /dev/vda rw',
  '44 27 254:0 / /var/lib/mock/1234 rw - tmpfs tmpfs rw',
  '',
].join('\n');

describe('parseMountInfo', () => {
  it('decodes the octal escapes of mount points and ignores optional fields', () => {
    expect(parseMountInfo(MOUNTINFO)).toEqual([
      { id: 22, mountPoint: '/proc' },
      { id: 42, mountPoint: '/var/lib/mock/123 x/root/proc' },
      { id: 43, mountPoint: '/var/lib/mock/123 x/root/proc/sub\ttab' },
      { id: 44, mountPoint: '/var/lib/mock/1234' },
    ]);
  });

  it('selects mounts at or below a dir, not those of a sibling sharing its prefix', () => {
    const mounts = parseMountInfo(MOUNTINFO);
    expect(mountsAtOrBelow(mounts, '/var/lib/mock/123 x').map((m) => m.id)).toEqual([42, 43]);
    expect(mountsAtOrBelow(mounts, '/var/lib/mock/123').map((m) => m.id)).toEqual([]);
    expect(mountsAtOrBelow(mounts, '/var/lib/mock/1234').map((m) => m.id)).toEqual([44]);
  });
});

describe('unmountBelow (real bind mounts)', () => {
  let env: EffectsEnv;
  let source: string;
  let chroot: string;
  beforeEach(async () => {
    env = await createEffectsEnv();
    source = path.join(env.root, 'outside');
    await mkdir(path.join(source, 'sub'), { recursive: true });
    await writeFile(path.join(source, 'keep'), 'precious');
    chroot = path.join(env.ctx.mockRootDir, '123 x');
    await mkdir(path.join(chroot, 'root', 'proc like'), { recursive: true });
  });
  afterEach(() => env.cleanup());

  it('unmounts nested mounts deepest first (the outer one is busy while the inner is mounted)', async () => {
    const outer = path.join(chroot, 'root', 'proc like');
    await bindMount(source, outer);
    await bindMount(source, path.join(outer, 'sub'));
    await bindMount(source, path.join(outer, 'sub'));
    expect(await mountPointsBelow(chroot)).toHaveLength(3);
    expect(await unmountBelow(chroot)).toEqual({ ok: true, unmounted: 3 });
    expect(await mountPointsBelow(chroot)).toEqual([]);
    expect(await readFile(path.join(source, 'keep'), 'utf8')).toBe('precious');
  });

  it('reports a mount it cannot unmount and leaves it mounted', async () => {
    const target = path.join(chroot, 'root', 'proc like');
    await bindMount(source, target);
    await env.hold('sleep', ['30'], target);
    const result = await unmountBelow(chroot);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.detail).toMatch(/busy/);
    expect(await mountPointsBelow(chroot)).toEqual([target]);
  });
});

// Counts this process's inotify watches: each `inotify wd:` line in /proc/self/fdinfo/<fd> of an
// inotify fd is one watch.

import { readdir, readFile, readlink } from 'node:fs/promises';

export async function countInotifyWatches(procSelf = '/proc/self'): Promise<number> {
  let watches = 0;
  for (const fd of await readdir(`${procSelf}/fd`)) {
    try {
      if ((await readlink(`${procSelf}/fd/${fd}`)) !== 'anon_inode:inotify') continue;
      const info = await readFile(`${procSelf}/fdinfo/${fd}`, 'utf8');
      watches += info.split('\n').filter((line) => line.startsWith('inotify wd:')).length;
    } catch {
      // The fd closed between readdir and read.
    }
  }
  return watches;
}

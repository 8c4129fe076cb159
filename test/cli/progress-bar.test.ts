// The reposync progress bar: its line for given figures (a table), its redraws around log lines, and the real CLI
// on a pseudo-terminal (util-linux `script`), where the bar shows, against a pipe, where it does not.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes, ProgressBar, progressLine, shorten, type ProgressState } from '../../src/cli/progress-bar.js';
import { runCli } from '../support/cli.js';
import { buildMirror, createReleaseFixture, type ReleaseFixture } from '../reposync/orchestrator/fixture.js';

const ROOT = join(import.meta.dirname, '..', '..');
const state = (change: Partial<ProgressState>): ProgressState => ({
  repo: 1, repos: 2, mirror: 'http://mirror.example/fedora/40/x86_64/', planned: 2000, plannedBytes: 0, done: 1000, bytes: 100 * 1024 * 1024, elapsedMs: 2000, ...change,
});

describe('progressLine', () => {
  it.each([
    ['half way, wide terminal', state({}), 120, '[1/2] http://mirror.example/fedora/40/x86_64/ [===============               ]  50% 1000/2000 pkgs 100.0 MiB 50.0 MiB/s'],
    ['with the planned size', state({ plannedBytes: 200 * 1024 * 1024 }), 120, '[1/2] http://mirror.…ora/40/x86_64/ [===============               ]  50% 1000/2000 pkgs 100.0 MiB/200.0 MiB 50.0 MiB/s'],
    ['nothing planned yet', state({ planned: 0, done: 0, bytes: 0, elapsedMs: 0 }), 100, '[1/2] http://mirror.example/fedora/40/x86_64/ [                              ]   0% 0/0 pkgs 0 B'],
    ['more done than planned (refusals of unplanned names)', state({ planned: 2, done: 3, bytes: 0 }), 100, '[1/2] http://mirror.exam…fedora/40/x86_64/ [==============================] 100% 3/3 pkgs 0 B 0 B/s'],
    ['narrow: the mirror is shortened, the bar too', state({}), 80, '[1/2] http…_64/ [==========          ]  50% 1000/2000 pkgs 100.0 MiB 50.0 MiB/s'],
    ['very narrow: no mirror, no bar, the figures cut', state({}), 40, '[1/2]   50% 1000/2000 pkgs 100.0 MiB 50'],
  ])('%s', (_what, given, columns, expected) => {
    const line = progressLine(given, columns);
    expect(line).toBe(expected);
    expect(line.length).toBeLessThan(columns);
  });
});

describe('helpers', () => {
  it.each([
    [0, '0 B'], [1023, '1023 B'], [1024, '1.0 KiB'], [1536 * 1024, '1.5 MiB'], [5 * 1024 ** 4, '5.0 TiB'], [3 * 1024 ** 5, '3072.0 TiB'],
  ])('formatBytes(%d) = %s', (bytes, text) => expect(formatBytes(bytes)).toBe(text));

  it.each([
    ['short', 10, 'short'], ['abcdefghij', 7, 'abc…hij'], ['abcdefghij', 4, ''], ['abcdefghij', 5, 'ab…ij'],
  ])('shorten(%s, %d) = %s', (text, width, expected) => expect(shorten(text, width)).toBe(expected));
});

describe('ProgressBar', () => {
  it('draws on repo(), throttles updates, keeps each finished repo line, and steps aside for log lines', async () => {
    const written: string[] = [];
    let clock = 0;
    const bar = new ProgressBar({ write: (text: string) => written.push(text), columns: 100 }, () => clock);
    const log = bar.around({ write: (text: string) => written.push(text) });
    bar.repo(1, 2, 'repo-a');
    expect(written.at(-1)).toContain('[1/2] repo-a');
    bar.planned(2, 2048);
    bar.done(1, 1024);
    bar.done(1, 1024);
    expect(written).toHaveLength(1);
    clock = 1000;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(written).toHaveLength(2);
    expect(written[1]).toContain('100% 2/2 pkgs 2.0 KiB/2.0 KiB 2.0 KiB/s');

    log.write('INFO: a line\n');
    // The bar goes, the line is written, the bar comes back.
    expect(written.slice(2)).toEqual(['\r\x1b[2K', 'INFO: a line\n', expect.stringContaining('[1/2] repo-a')]);
    bar.repo(2, 2, 'repo-b');
    bar.end();
    const screen = written.join('');
    expect(screen).toMatch(/\[1\/2\] repo-a[^\n]*100% 2\/2 pkgs[^\n]*\n/);
    expect(screen).toMatch(/\[2\/2\] repo-b[^\n]*0\/0 pkgs 0 B[^\n]*\n$/);
  });
});

describe('retrace-server-reposync on a terminal', () => {
  let fx: ReleaseFixture;

  beforeAll(async () => {
    fx = await createReleaseFixture();
    const mirror = join(fx.spool.root, 'mirror');
    await buildMirror(mirror, [
      { name: 'alpha', version: '1.0', release: '1', arch: 'x86_64' },
      { name: 'beta', version: '2.0', release: '1', arch: 'noarch' },
    ]);
    await fx.writePlugin([[mirror]]);
  });

  afterAll(async () => {
    await fx?.spool.cleanup();
  });

  it('shows a progress bar on a pseudo-terminal, and only log lines on a pipe', async () => {
    const command = [process.execPath, '--import', join(ROOT, 'scripts', 'ts-loader.mjs'), join(ROOT, 'src', 'cli', 'reposync.ts'), 'testdist', '1', 'x86_64']
      .map((word) => `'${word}'`).join(' ');
    const { stdout } = await promisify(execFile)('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
      env: { ...process.env, ...fx.env, COLUMNS: '120' },
      timeout: 30_000,
    });
    // The final state of the repo's line: both packages through.
    expect(stdout).toMatch(/\[1\/1\] \S*mirror \[=+\] 100% 2\/2 pkgs/);
    expect(stdout).toContain('Repository synchronization finished successfully');

    const piped = await runCli('reposync', ['testdist', '1', 'x86_64'], { env: fx.env });
    expect(piped.code).toBe(0);
    expect(piped.stderr).not.toContain('pkgs');
    expect(piped.stderr).not.toContain('\x1b[2K');
  });
});

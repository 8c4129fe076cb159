import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifySpoolEntry, listSpool, type SpoolEntry } from '../../src/spool/spool-entries.js';

describe('classifySpoolEntry', () => {
  const cases: [string, SpoolEntry][] = [
    ['123456789', { kind: 'task', id: '123456789' }],
    ['1', { kind: 'task', id: '1' }],
    ['0123', { kind: 'task', id: '0123' }],
    ['12345678901234567890', { kind: 'task', id: '12345678901234567890' }],
    ['123456789-kernel', { kind: 'kernel-config', id: '123456789' }],
    ['stats.db', { kind: 'ignored' }],
    ['stats.db-journal', { kind: 'ignored' }],
    ['123456789.tmp', { kind: 'ignored' }],
    ['123456789-kernel.tmp', { kind: 'ignored' }],
    ['.123456789', { kind: 'ignored' }],
    ['.hidden', { kind: 'ignored' }],
    ['123abc', { kind: 'ignored' }],
    ['-kernel', { kind: 'ignored' }],
    ['abc-kernel', { kind: 'ignored' }],
    ['123-kernel-bootstrap', { kind: 'ignored' }],
    ['123-KERNEL', { kind: 'ignored' }],
    [' 123', { kind: 'ignored' }],
    ['123\n', { kind: 'ignored' }],
    ['١٢٣', { kind: 'ignored' }],
    ['-123', { kind: 'ignored' }],
  ];
  it.each(cases)('%j', (name, expected) => {
    expect(classifySpoolEntry(name)).toEqual(expected);
  });
});

describe('listSpool', () => {
  let saveDir: string;
  let outside: string;
  beforeAll(() => {
    saveDir = mkdtempSync(path.join(tmpdir(), 'spool-entries-'));
    const dirs = ['111', '222', '0333', '111-kernel', '999-kernel', '123abc', '444.tmp', '.555', 'results'];
    for (const name of dirs) mkdirSync(path.join(saveDir, name));
    for (const name of ['stats.db', '666', '777-kernel', '888.tmp']) writeFileSync(path.join(saveDir, name), '');
    // Symlinks named like a task or a kernel config, to a real dir: never followed.
    outside = mkdtempSync(path.join(tmpdir(), 'spool-outside-'));
    symlinkSync(outside, path.join(saveDir, '1000'));
    symlinkSync(path.join(saveDir, '111'), path.join(saveDir, '1001'));
    symlinkSync(outside, path.join(saveDir, '1002-kernel'));
    symlinkSync('/nonexistent', path.join(saveDir, '1003'));
  });
  afterAll(() => {
    rmSync(saveDir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('lists task dirs and kernel config dirs, and nothing else', async () => {
    const listing = await listSpool(saveDir);
    expect([...listing.tasks].sort()).toEqual(['0333', '111', '222']);
    expect([...listing.kernelConfigs].sort()).toEqual(['111', '999']);
  });

  it('fails when SaveDir is missing rather than reporting an empty spool', async () => {
    await expect(listSpool(path.join(saveDir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

// The SELinux mode from selinuxfs under a fake root, and its metric.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registerSelinuxMetrics } from '../../src/metrics/selinux-metrics.js';
import { readSelinuxMode } from '../../src/selinux/mode.js';

describe('the SELinux mode', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'selinux-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const setEnforce = async (value: string | undefined): Promise<void> => {
    await mkdir(join(root, 'sys/fs/selinux'), { recursive: true });
    if (value !== undefined) await writeFile(join(root, 'sys/fs/selinux/enforce'), value);
  };

  it('is enforcing when enforce holds 1', async () => {
    await setEnforce('1');
    expect(readSelinuxMode(root)).toBe('enforcing');
  });

  it('is permissive when enforce holds 0', async () => {
    await setEnforce('0');
    expect(readSelinuxMode(root)).toBe('permissive');
  });

  it('is disabled without selinuxfs, or without enforce in it', async () => {
    expect(readSelinuxMode(root)).toBe('disabled');
    await setEnforce(undefined);
    expect(readSelinuxMode(root)).toBe('disabled');
  });

  it('exports 1 for the current mode and 0 for the others, read at each scrape', async () => {
    const registry = new Registry();
    registerSelinuxMetrics(registry, root);
    const values = async (): Promise<Record<string, number>> => {
      const metric = await registry.getSingleMetric('retrace_agent_selinux_mode')!.get();
      return Object.fromEntries(metric.values.map((v) => [String(v.labels.mode), v.value]));
    };
    expect(await values()).toEqual({ enforcing: 0, permissive: 0, disabled: 1 });
    await setEnforce('1');
    expect(await values()).toEqual({ enforcing: 1, permissive: 0, disabled: 0 });
    await setEnforce('0');
    expect(await values()).toEqual({ enforcing: 0, permissive: 1, disabled: 0 });
    expect(await registry.metrics()).toContain('# TYPE retrace_agent_selinux_mode gauge');
  });
});

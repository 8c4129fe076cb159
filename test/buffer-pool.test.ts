import { describe, expect, it } from 'vitest';
import { BufferPool } from '../src/buffer-pool.js';

const KiB = 1024;

describe('BufferPool', () => {
  it('hands out a buffer of the length asked for, the only view of its memory', () => {
    const pool = new BufferPool(1024 * KiB);
    const buffer = pool.take(100 * KiB);
    expect(buffer.length).toBe(100 * KiB);
    expect(buffer.byteOffset).toBe(0);
    // Its own memory, of the size class: no slice of Node's shared pool.
    expect(buffer.buffer.byteLength).toBe(128 * KiB);
  });

  it('gives memory back out once it was given back, for any length of its size class', () => {
    const pool = new BufferPool(1024 * KiB);
    const first = pool.take(100 * KiB);
    const memory = first.buffer;
    pool.give(first);
    expect(pool.freeBytes).toBe(128 * KiB);
    const second = pool.take(120 * KiB);
    expect(second.buffer).toBe(memory);
    expect(second.length).toBe(120 * KiB);
    expect(pool.freeBytes).toBe(0);
  });

  it('never hands out memory that is still out, nor one given back twice to two takers', () => {
    const pool = new BufferPool(1024 * KiB);
    const a = pool.take(100 * KiB);
    const b = pool.take(100 * KiB);
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a);
    pool.give(a);
    const c = pool.take(100 * KiB);
    const d = pool.take(100 * KiB);
    expect(c.buffer).toBe(a.buffer);
    expect(d.buffer).not.toBe(a.buffer);
    expect(d.buffer).not.toBe(b.buffer);
  });

  it('keeps size classes apart', () => {
    const pool = new BufferPool(4096 * KiB);
    const small = pool.take(10 * KiB);
    const large = pool.take(1000 * KiB);
    expect(small.buffer.byteLength).toBe(64 * KiB);
    expect(large.buffer.byteLength).toBe(1024 * KiB);
    pool.give(small);
    pool.give(large);
    expect(pool.take(900 * KiB).buffer).toBe(large.buffer);
    expect(pool.take(60 * KiB).buffer).toBe(small.buffer);
  });

  it('keeps no more free than its cap', () => {
    const pool = new BufferPool(256 * KiB);
    const buffers = [pool.take(100 * KiB), pool.take(100 * KiB), pool.take(100 * KiB)];
    for (const buffer of buffers) pool.give(buffer);
    expect(pool.freeBytes).toBe(256 * KiB);
    const again = [pool.take(100 * KiB), pool.take(100 * KiB), pool.take(100 * KiB)];
    expect(again.filter((buffer) => buffers.some((kept) => kept.buffer === buffer.buffer))).toHaveLength(2);
  });

  it('ignores buffers it did not hand out whole: slices, views at an offset, pooled small buffers', () => {
    const pool = new BufferPool(1024 * KiB);
    pool.give(pool.take(100 * KiB).subarray(0, 50 * KiB));
    pool.give(pool.take(100 * KiB).subarray(4));
    pool.give(Buffer.from('small'));
    pool.give(Buffer.alloc(100 * KiB));
    expect(pool.freeBytes).toBe(0);
  });
});

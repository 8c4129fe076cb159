import { describe, expect, it } from 'vitest';
import { DueQueue } from '../../src/reaper/due-queue.js';

describe('DueQueue', () => {
  it('gives ids back in due order, only once due', () => {
    const queue = new DueQueue();
    queue.set('a', 30);
    queue.set('b', 10);
    queue.set('c', 20);
    expect(queue.peek()).toBe(10);
    expect(queue.takeDue(5)).toEqual([]);
    expect(queue.takeDue(20)).toEqual(['b', 'c']);
    expect(queue.takeDue(100)).toEqual(['a']);
    expect(queue.size).toBe(0);
    expect(queue.peek()).toBeUndefined();
  });

  it('forgets replaced and deleted due times', () => {
    const queue = new DueQueue();
    queue.set('a', 10);
    queue.set('a', 50);
    queue.set('b', 20);
    queue.delete('b');
    expect(queue.peek()).toBe(50);
    expect(queue.takeDue(40)).toEqual([]);
    expect(queue.dueMs('a')).toBe(50);
    expect(queue.takeDue(50)).toEqual(['a']);
  });

  it('orders 10,000 random due times like a sort', () => {
    const queue = new DueQueue();
    const dues = Array.from({ length: 10_000 }, (_, i) => [String(i), Math.floor(Math.random() * 1e6)] as const);
    for (const [id, due] of dues) queue.set(id, due);
    const taken: number[] = [];
    for (let t = 0; t <= 1e6; t += 1e5) taken.push(...queue.takeDue(t).map((id) => dues[Number(id)]![1]));
    expect(taken).toHaveLength(10_000);
    expect(taken).toEqual([...taken].sort((a, b) => a - b));
  });
});

// Due times of many tasks behind one timer: a binary min-heap with lazy deletion. 100k tasks with
// a rule due days ahead cost one timer and two small arrays, not 100k timers.

export class DueQueue {
  private readonly dueOf = new Map<string, number>();
  private readonly heapDue: number[] = [];
  private readonly heapId: string[] = [];

  get size(): number {
    return this.dueOf.size;
  }

  dueMs(id: string): number | undefined {
    return this.dueOf.get(id);
  }

  set(id: string, dueMs: number): void {
    this.dueOf.set(id, dueMs);
    this.push(dueMs, id);
  }

  delete(id: string): void {
    this.dueOf.delete(id);
  }

  /** The earliest due time, skipping entries that were replaced or deleted. */
  peek(): number | undefined {
    this.dropStale();
    return this.heapDue[0];
  }

  /** Removes and returns the ids due at or before `nowMs`. */
  takeDue(nowMs: number): string[] {
    const ids: string[] = [];
    for (let top = this.peek(); top !== undefined && top <= nowMs; top = this.peek()) {
      const id = this.heapId[0] as string;
      this.pop();
      this.dueOf.delete(id);
      ids.push(id);
    }
    return ids;
  }

  private dropStale(): void {
    while (this.heapDue.length > 0 && this.dueOf.get(this.heapId[0] as string) !== this.heapDue[0]) this.pop();
  }

  private push(due: number, id: string): void {
    let i = this.heapDue.length;
    this.heapDue.push(due);
    this.heapId.push(id);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((this.heapDue[parent] as number) <= due) break;
      this.move(parent, i);
      i = parent;
    }
    this.heapDue[i] = due;
    this.heapId[i] = id;
  }

  private pop(): void {
    const lastDue = this.heapDue.pop() as number;
    const lastId = this.heapId.pop() as string;
    const n = this.heapDue.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (this.heapDue[right] as number) < (this.heapDue[left] as number) ? right : left;
      if ((this.heapDue[child] as number) >= lastDue) break;
      this.move(child, i);
      i = child;
    }
    this.heapDue[i] = lastDue;
    this.heapId[i] = lastId;
  }

  private move(from: number, to: number): void {
    this.heapDue[to] = this.heapDue[from] as number;
    this.heapId[to] = this.heapId[from] as string;
  }
}

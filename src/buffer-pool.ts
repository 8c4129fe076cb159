// Package-sized buffers, used again rather than allocated per package. Each fresh ~100 KiB buffer counts towards
// V8's external memory, which starts a collection every few dozen packages (marked on V8's helper threads), and
// the kernel maps and zeroes its pages on first touch: a staging thread that held each download in a new buffer
// spent more CPU on that than on its HTTP exchanges (bench/RESULTS.md).
//
// Sizes come in powers of two from 64 KiB, so that packages of similar sizes share buffers; what is kept free is
// capped, so an idle thread holds little.

const SMALLEST_BYTES = 64 * 1024;

export class BufferPool {
  readonly #maxFreeBytes: number;
  /** Free buffers by capacity. */
  readonly #free = new Map<number, ArrayBuffer[]>();
  #freeBytes = 0;

  /** Keeps at most `maxFreeBytes` of capacity free; a buffer given back beyond that is left to the collector. */
  constructor(maxFreeBytes: number) {
    this.#maxFreeBytes = maxFreeBytes;
  }

  /** A buffer of `length` bytes, its contents undefined (as allocUnsafe), and the only view of its memory. */
  take(length: number): Buffer {
    const capacity = capacityFor(length);
    const memory = this.#free.get(capacity)?.pop();
    if (memory === undefined) return Buffer.allocUnsafeSlow(capacity).subarray(0, length);
    this.#freeBytes -= capacity;
    return Buffer.from(memory, 0, length);
  }

  /**
   * Takes back a buffer from take(). Nothing may use it, nor any view of it, afterwards: its memory is handed out
   * again. One that cannot be a whole buffer from take() (a slice, a view at an offset, memory of another size) is
   * ignored.
   */
  give(buffer: Buffer): void {
    const memory = buffer.buffer;
    const capacity = memory.byteLength;
    if (buffer.byteOffset !== 0 || capacity !== capacityFor(buffer.length) || !(memory instanceof ArrayBuffer)) return;
    if (this.#freeBytes + capacity > this.#maxFreeBytes) return;
    const list = this.#free.get(capacity) ?? [];
    if (list.includes(memory)) return;
    list.push(memory);
    this.#free.set(capacity, list);
    this.#freeBytes += capacity;
  }

  /** Capacity held free, in bytes (for tests). */
  get freeBytes(): number {
    return this.#freeBytes;
  }
}

function capacityFor(length: number): number {
  let capacity = SMALLEST_BYTES;
  while (capacity < length) capacity *= 2;
  return capacity;
}

// The reposync CLI's progress bar on a terminal (SPEC §7.1): one line on stderr per repo, redrawn at most every
// REDRAW_MS, and taken off the screen around each log line so that both stay readable. Off a terminal the CLI
// prints its log lines only.
import type { SyncProgress } from '../reposync/types.js';

export interface ProgressState {
  /** From 1; 0 before the first repo. */
  readonly repo: number;
  readonly repos: number;
  readonly mirror: string;
  readonly planned: number;
  /** The size of what was planned, where the transport knew it. */
  readonly plannedBytes: number;
  readonly done: number;
  /** Admitted bytes. */
  readonly bytes: number;
  readonly elapsedMs: number;
}

const REDRAW_MS = 100;
const MIN_BAR = 10;
const MAX_BAR = 30;
const CLEAR_LINE = '\r\x1b[2K';

/** The bar's line, never wider than `columns`: `[2/5] mirror [=====     ]  50% 1000/2000 pkgs 106.0 MiB/212.0 MiB 35.3 MiB/s`. */
export function progressLine(state: ProgressState, columns: number): string {
  const total = Math.max(state.planned, state.done);
  const fraction = total === 0 ? 0 : state.done / total;
  const rate = state.elapsedMs > 0 ? ` ${formatBytes((state.bytes * 1000) / state.elapsedMs)}/s` : '';
  const prefix = `[${state.repo}/${state.repos}] `;
  const size = state.plannedBytes > 0 ? `${formatBytes(state.bytes)}/${formatBytes(state.plannedBytes)}` : formatBytes(state.bytes);
  const figures = ` ${String(Math.floor(fraction * 100)).padStart(3)}% ${state.done}/${total} pkgs ${size}${rate}`;
  const room = columns - 1 - prefix.length - figures.length;
  // The mirror gets what the bar leaves, and at least a few characters; else it goes, then the bar.
  const barWidth = Math.max(0, Math.min(MAX_BAR, room - 12));
  const bar = barWidth >= MIN_BAR ? ` [${'='.repeat(Math.round(fraction * barWidth)).padEnd(barWidth)}]` : '';
  const mirror = shorten(state.mirror, room - bar.length);
  return `${prefix}${mirror}${bar}${figures}`.slice(0, Math.max(0, columns - 1));
}

/** `text` in at most `width` characters, its middle replaced by '…'. */
export function shorten(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width < 5) return '';
  const keep = width - 1;
  return `${text.slice(0, Math.ceil(keep / 2))}…${text.slice(text.length - Math.floor(keep / 2))}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export interface Terminal {
  write(text: string): unknown;
  readonly columns?: number;
}

export class ProgressBar implements SyncProgress {
  readonly #out: Terminal;
  readonly #now: () => number;
  #state: ProgressState = { repo: 0, repos: 0, mirror: '', planned: 0, plannedBytes: 0, done: 0, bytes: 0, elapsedMs: 0 };
  #started = 0;
  #shown = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(out: Terminal, now: () => number = Date.now) {
    this.#out = out;
    this.#now = now;
  }

  repo(index: number, count: number, mirror: string): void {
    // The previous repo's line stays on the screen with its totals.
    if (this.#state.repo > 0) this.#settle();
    this.#started = this.#now();
    this.#state = { repo: index, repos: count, mirror, planned: 0, plannedBytes: 0, done: 0, bytes: 0, elapsedMs: 0 };
    this.#draw();
  }

  planned(packages: number, bytes: number): void {
    this.#update({ planned: this.#state.planned + packages, plannedBytes: this.#state.plannedBytes + bytes });
  }

  done(packages: number, bytes: number): void {
    this.#update({ done: this.#state.done + packages, bytes: this.#state.bytes + bytes });
  }

  /** Takes the line off the screen (before something else is written there). */
  clear(): void {
    if (!this.#shown) return;
    this.#out.write(CLEAR_LINE);
    this.#shown = false;
  }

  /** Puts the line back after clear(). */
  restore(): void {
    if (this.#state.repo > 0 && !this.#shown) this.#draw();
  }

  /** Draws the last repo's line for good. */
  end(): void {
    if (this.#state.repo > 0) this.#settle();
    this.#state = { ...this.#state, repo: 0 };
  }

  /** A stream for the log: each line goes out with the bar taken off the screen and put back after it. */
  around(log: Terminal): Terminal {
    return {
      write: (text: string) => {
        this.clear();
        const written = log.write(text);
        this.restore();
        return written;
      },
    };
  }

  #update(change: Partial<ProgressState>): void {
    this.#state = { ...this.#state, ...change };
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#draw();
    }, REDRAW_MS).unref();
  }

  /** A terminal that does not know its width (0, as a pty may say) is taken as $COLUMNS or 80 wide. */
  #columns(): number {
    return this.#out.columns || Number(process.env.COLUMNS) || 80;
  }

  #settle(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#draw();
    this.#out.write('\n');
    this.#shown = false;
  }

  #draw(): void {
    if (this.#state.repo === 0) return;
    this.#state = { ...this.#state, elapsedMs: this.#now() - this.#started };
    this.#out.write(`${CLEAR_LINE}${progressLine(this.#state, this.#columns())}`);
    this.#shown = true;
  }
}

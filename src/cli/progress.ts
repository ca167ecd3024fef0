/**
 * progress.ts - a one-line progress bar for long runs on a terminal.
 *
 * It stays invisible for runs shorter than `delayMs` (a bar that flashes for
 * a moment is noise), then redraws in place (`\r`) at most every
 * `intervalMs`, so a run of a million cheap ticks does not spend its time
 * writing to the terminal. `clear()` erases it before the result is printed.
 */

/** Options of {@link ProgressBar}. */
export interface ProgressOptions {
  /** Where the bar goes (stderr of a terminal). */
  write: (text: string) => void;
  /** Width of the terminal in columns; the line stays one column short of it (default 80). */
  columns?: number;
  /** What is being done, before the bar (default "progress"). */
  label?: string;
  /** What is counted, after the counts (default "steps"). */
  unit?: string;
  /** Draw nothing until this many milliseconds have passed (default 300). */
  delayMs?: number;
  /** Redraw at most this often, in milliseconds (default 100: ten times a second). */
  intervalMs?: number;
  /** A clock in milliseconds (default `performance.now`). */
  now?: () => number;
}

/**
 * A progress bar: `label [#####.....]  50%  65/130 unit, 0:04 left`.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress.ts";
 * const bar = new ProgressBar({ write: (s) => process.stderr.write(s), label: "verifying", unit: "ticks" });
 * for (let t = 0; t < 1000; t++) {
 *   Bun.sleepSync(1); // the work
 *   bar.update(t + 1, 1000);
 * }
 * bar.clear();
 * ```
 */
export class ProgressBar {
  readonly #write: (text: string) => void;
  readonly #columns: number;
  readonly #label: string;
  readonly #unit: string;
  readonly #delayMs: number;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #start: number;
  #lastDraw = -Infinity;
  #drawn = false;

  constructor(options: ProgressOptions) {
    this.#write = options.write;
    this.#columns = Math.max(20, options.columns ?? 80);
    this.#label = options.label ?? "progress";
    this.#unit = options.unit ?? "steps";
    this.#delayMs = options.delayMs ?? 300;
    this.#intervalMs = options.intervalMs ?? 100;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** True once the bar has been drawn (and not cleared since). */
  get visible(): boolean {
    return this.#drawn;
  }

  /** `done` of `total` are done; redraws if it is time to. */
  update(done: number, total: number): void {
    const now = this.#now();
    if (now - this.#start < this.#delayMs || now - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = now;
    this.#drawn = true;
    this.#write(`\r${this.line(done, total, now - this.#start)}\x1b[K`);
  }

  /** Erase the bar, leaving the cursor at the start of its line (idempotent). */
  clear(): void {
    if (!this.#drawn) return;
    this.#drawn = false;
    this.#write("\r\x1b[K");
  }

  /** The text of the bar after `elapsedMs`, fitted to the width. */
  line(done: number, total: number, elapsedMs: number): string {
    const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 1;
    const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
    const left = done > 0 && done < total ? `, ${formatSeconds(((total - done) * elapsedMs) / done / 1000)} left` : "";
    const tail = ` ${percent} ${String(done).padStart(String(total).length)}/${total} ${this.#unit}${left}`;
    // The bar keeps one width while the tail changes: room for the longest tail.
    const longest = ` 100% ${total}/${total} ${this.#unit}, 99:59:59 left`.length;
    const room = this.#columns - 1 - this.#label.length - 3 - longest; // "label [" + "]"
    if (room < 8) return `${this.#label}${tail}`.slice(0, this.#columns - 1);
    const width = Math.min(40, room);
    const filled = Math.round(fraction * width);
    return `${this.#label} [${"#".repeat(filled)}${".".repeat(width - filled)}]${tail}`;
  }
}

/** Seconds as m:ss or h:mm:ss, rounded up (never "0:00" before the end), at most 99:59:59. */
function formatSeconds(seconds: number): string {
  const s = Math.min(Math.ceil(seconds), 99 * 3600 + 59 * 60 + 59);
  const ss = String(s % 60).padStart(2, "0");
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}:${ss}` : `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${ss}`;
}

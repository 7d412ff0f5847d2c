// A minimal cancellation signal. AbortController/EventTarget costs ~25 µs per request on the
// query hot path (measured: bench/query.ts); this costs next to nothing.

/** Tells running work that its caller gave up (client gone, deadline, server closing). */
export interface Cancellation {
  /** True once cancelled. */
  readonly cancelled: boolean;
  /** Runs `fn` on cancellation (at once if already cancelled); returns an unsubscribe function. */
  onCancel(fn: () => void): () => void;
}

/** The owner's side of a Cancellation. */
export class CancelSource implements Cancellation {
  private fns: (() => void)[] | null = [];

  get cancelled(): boolean {
    return this.fns === null;
  }

  onCancel(fn: () => void): () => void {
    if (this.fns === null) {
      fn();
      return () => undefined;
    }
    const fns = this.fns;
    fns.push(fn);
    return () => {
      const i = fns.indexOf(fn);
      if (i >= 0) fns.splice(i, 1);
    };
  }

  /** Cancels once; later calls do nothing. */
  cancel(): void {
    const fns = this.fns;
    if (fns === null) return;
    this.fns = null;
    for (const fn of fns) fn();
  }
}

/**
 * Delays between reconnect rounds: doubling from `initialMs` up to `maxMs`, with up to
 * 25 % jitter so that the peers of a restarted master do not all knock at once.
 */
export class Backoff {
  private next: number;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {
    this.next = initialMs;
  }

  /** The delay before the next round; each call lengthens the following one. */
  delay(): number {
    const base = this.next;
    this.next = Math.min(this.maxMs, this.next * 2);
    return Math.round(base * (1 - Math.random() * 0.25));
  }

  reset(): void {
    this.next = this.initialMs;
  }
}

/** A sleep that `wake()` cuts short, so that a stopping service never waits out a back-off. */
export class Pause {
  private wakeUp: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        if (self.wakeUp === done) self.wakeUp = undefined;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  wake(): void {
    this.wakeUp?.();
  }
}

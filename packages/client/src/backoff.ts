/**
 * Delays between reconnect rounds: doubling from `initialMs` up to `maxMs`, with up to
 * 25 % jitter so that the clients of a restarted master do not all knock at once.
 */
export class Backoff {
  private next: number;

  constructor(
    private readonly initialMs = 50,
    private readonly maxMs = 2000,
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

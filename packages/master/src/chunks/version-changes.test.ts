import { describe, expect, it } from 'vitest';
import { VersionChanges } from './version-changes.js';

/** 'woken' or 'timeout', whichever comes first. */
function race(p: Promise<void>, ms: number): Promise<string> {
  return Promise.race([p.then(() => 'woken'), new Promise<string>((r) => setTimeout(() => r('timeout'), ms))]);
}

describe('version changes', () => {
  it('a reader waits until a copy moved or the change ended; nested changes of one chunk count', async () => {
    const changes = new VersionChanges();
    expect(await race(changes.settled(5, 10_000), 50)).toBe('woken'); // nothing in flight: no wait
    changes.begin(5);
    changes.begin(5);
    const first = changes.settled(5, 10_000);
    expect(await race(first, 50)).toBe('timeout');
    changes.progressed(5);
    expect(await race(first, 50)).toBe('woken');
    const second = changes.settled(5, 10_000);
    changes.end(5);
    expect(await race(second, 50)).toBe('woken');
    expect(changes.has(5)).toBe(true); // the other change is still in flight
    changes.end(5);
    expect(changes.has(5)).toBe(false);
  });

  it('the wait is bounded', async () => {
    const changes = new VersionChanges();
    changes.begin(9);
    const t0 = Date.now();
    await changes.settled(9, 100);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    expect(changes.has(9)).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import { until, untilValue } from './poll.js';

describe('until / untilValue', () => {
  it('returns the first answer that holds', async () => {
    let n = 0;
    expect(await until('n to reach 3', () => (++n >= 3 ? n : undefined), 5_000, 1)).toBe(3);
    let m = 0;
    expect(await untilValue('m to reach 3', () => ++m, (v) => v >= 3, 5_000, 1)).toBe(3);
  });

  it('fails naming what it waited for, and untilValue with the last answer', async () => {
    await expect(until('never', () => undefined, 20, 5)).rejects.toThrow('timed out waiting for never');
    await expect(untilValue('copies at two', () => ({ copies: 1 }), (v) => v.copies === 2, 20, 5)).rejects.toThrow('timed out waiting for copies at two; last: {"copies":1}');
    // A probe's own error is passed on as it is.
    await expect(
      untilValue(
        'a probe that fails',
        () => {
          throw new Error('no master');
        },
        () => true,
        20,
        5,
      ),
    ).rejects.toThrow(/^no master$/);
  });
});

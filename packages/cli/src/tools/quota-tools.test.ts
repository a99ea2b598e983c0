import { describe, expect, it } from 'vitest';
import { UsageError } from '../exit-codes.js';
import { parseGrace, parseQuotaNumber, quotaArgs, quotaKindsToDelete, quotaLines } from './quota-tools.js';

describe('quota tools', () => {
  it('read numbers with MooseFS suffixes and grace periods in seconds or time format', () => {
    expect(parseQuotaNumber('1000')).toBe(1000);
    expect(parseQuotaNumber('1k')).toBe(1000);
    expect(parseQuotaNumber('1Ki')).toBe(1024);
    expect(parseQuotaNumber('1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(parseQuotaNumber('2M')).toBe(2_000_000);
    for (const bad of ['', 'x', '-1', '1X', '1 k', '1e3']) expect(() => parseQuotaNumber(bad), bad).toThrow(UsageError);
    expect(parseGrace('3600')).toBe(3600);
    expect(parseGrace('7d')).toBe(604_800);
    expect(parseGrace('1h30m')).toBe(5400);
    expect(parseGrace('2w1d')).toBe(15 * 86_400);
    for (const bad of ['', 'd', '1y', '5m1h']) expect(() => parseGrace(bad), bad).toThrow(UsageError);
  });

  it('take lower case letters as soft limits, upper case as hard ones', () => {
    expect(quotaArgs({ i: '10', L: '1Mi', R: '2G', p: '60' })).toEqual({ soft: { inodes: 10 }, hard: { length: 1 << 20, realsize: 2e9 }, grace: 60 });
    expect(() => quotaArgs({ p: '60' })).toThrow(UsageError);
    expect(quotaKindsToDelete({ a: true, S: true })).toEqual({ soft: ['inodes', 'length', 'size', 'realsize'], hard: ['size'] });
    expect(() => quotaKindsToDelete({ f: true })).toThrow(UsageError);
  });

  it("print MooseFS's table, '-' where no limit is set", () => {
    const info = { quota: { grace: 604_800, soft: { inodes: 5 }, hard: { length: 1 << 20 } }, usage: { inodes: 2, length: 100, size: 65_536, realsize: 131_072 } };
    expect(quotaLines('/m/d', info, 'plain')).toEqual([
      '/m/d: (current values | soft quota | hard quota) ; soft quota grace period: 604800 seconds',
      ' inodes   |                    2 |                    5 |                    - |',
      ' length   |                  100 |                    - |              1048576 |',
      ' size     |                65536 |                    - |                    - |',
      ' realsize |               131072 |                    - |                    - |',
    ]);
    expect(quotaLines('/m/e', { usage: { inodes: 1, length: 0, size: 0, realsize: 0 } }, 'binary')[0]).toBe('/m/e: (current values | soft quota | hard quota) ; soft quota grace period: default');
    // As mfsgetquota -h / -k printed the same limits (MooseFS 3.0.117).
    expect(quotaLines('/m/d', info, 'binary')[2]).toBe(' length   |   100B |      - | 1.0MiB |');
    expect(quotaLines('/m/d', info, 'kibi')[2]).toBe(` length   | ${'0'.padStart(17)} | ${'-'.padStart(17)} | ${'1024'.padStart(17)} |`);
    expect(quotaLines('/m/d', { ...info, quota: { ...info.quota, grace: 0 } }, 'plain')[0]).toBe('/m/d: (current values | soft quota | hard quota) ; soft quota grace period: default');
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressListError, parseAddressList, resolveAddressList } from './address-list.js';
import { Backoff, Pause } from './backoff.js';

describe('address lists', () => {
  it('takes hosts, host:port, [v6]:port, comma-separated, with a default port', () => {
    expect(parseAddressList(' a , b:9519,[::1]:9419, [fe80::1]', 9421)).toEqual([
      { host: 'a', port: 9421 },
      { host: 'b', port: 9519 },
      { host: '::1', port: 9419 },
      { host: 'fe80::1', port: 9421 },
    ]);
  });

  it('names the bad item', () => {
    expect(() => parseAddressList('a,b:0', 1)).toThrow(new AddressListError(`'b:0' has a port outside 1..65535`));
    expect(() => parseAddressList('a b', 1)).toThrow(/'a b' is not HOST or HOST:PORT/);
    expect(() => parseAddressList(' , ', 1)).toThrow(/no address given/);
  });

  it('expands names into their addresses, keeps literals and names that do not resolve', async () => {
    // localhost is in every /etc/hosts; .invalid never resolves (RFC 6761).
    const got = await resolveAddressList(parseAddressList('localhost:7, 127.0.0.3:8, no-such-master.invalid:9, 127.0.0.3:8', 1));
    expect(got.filter((a) => a.port === 7).map((a) => a.host).every((h) => h === '127.0.0.1' || h === '::1')).toBe(true);
    expect(got.filter((a) => a.port === 7).length).toBeGreaterThan(0);
    expect(got.filter((a) => a.port !== 7)).toEqual([
      { host: '127.0.0.3', port: 8 },
      { host: 'no-such-master.invalid', port: 9 },
    ]);
  });

  it('round-trips any list it prints', () => {
    const host = fc.stringMatching(/^[a-z0-9.-]{1,20}$/);
    fc.assert(
      fc.property(fc.array(fc.record({ host, port: fc.integer({ min: 1, max: 65535 }) }), { minLength: 1, maxLength: 5 }), (list) => {
        expect(parseAddressList(list.map((a) => `${a.host}:${a.port}`).join(','), 1)).toEqual(list);
      }),
    );
  });
});

describe('back-off', () => {
  it('doubles up to the cap with at most 25 % jitter, and resets', () => {
    const b = new Backoff(100, 1000);
    const delays = Array.from({ length: 6 }, () => b.delay());
    [100, 200, 400, 800, 1000, 1000].forEach((base, i) => {
      expect(delays[i]).toBeLessThanOrEqual(base);
      expect(delays[i]).toBeGreaterThanOrEqual(base * 0.75);
    });
    b.reset();
    expect(b.delay()).toBeLessThanOrEqual(100);
  });

  it('a pause ends early when woken', async () => {
    const p = new Pause();
    const slept = p.sleep(60_000);
    p.wake();
    await slept;
    p.wake(); // waking with nobody asleep is harmless
  });
});

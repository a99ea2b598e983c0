import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePorts } from './ports.js';

describe('freePorts', () => {
  it('hands out distinct free ports below the ephemeral range, never the same twice', async () => {
    const ephemeral = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const first = await freePorts(40);
    const second = await freePorts(40);
    const all = [...first, ...second];
    expect(new Set(all).size).toBe(80);
    for (const p of all) {
      expect(p).toBeGreaterThanOrEqual(10_000);
      expect(p).toBeLessThan(ephemeral);
    }
  });
});

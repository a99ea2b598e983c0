import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePortBlock, freePorts } from './ports.js';

/** Whether another listener can take the claim on `port` (it cannot while this process holds it). */
function claimable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(`\0tsmfs-port-${port}`, () => srv.close(() => resolve(true)));
  });
}

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

  it('claims every port it hands out, singly or in a block, so that no other process draws it meanwhile', async () => {
    const ports = await freePorts(5);
    const base = await freePortBlock(20);
    for (const p of [...ports, ...Array.from({ length: 20 }, (_, i) => base + i)]) expect(await claimable(p)).toBe(false);
  });
});

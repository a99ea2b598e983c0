/**
 * /api/v1/memory: the master's own memory figures, which bench/master.js reads (issue 11).
 * A full GC runs only for a master started with --expose-gc (the bench's): from a
 * production master, ?gc=1 must not make it pause.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';

describe('master HTTP: /api/v1/memory', () => {
  it('reports RSS, heap and memory outside it, and runs no GC without --expose-gc', async () => {
    const c = await Cluster.create();
    const res = await fetch(`http://127.0.0.1:${c.master.ports.http}/api/v1/memory?gc=1`);
    expect(res.status).toBe(200);
    const mem = (await res.json()) as Record<string, number | boolean>;
    expect(mem.gc).toBe(false);
    for (const k of ['rss', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers']) expect(mem[k], k).toBeGreaterThan(0);
    expect(mem.heapUsed as number).toBeLessThanOrEqual(mem.heapTotal as number);
    expect(mem.arrayBuffers as number).toBeLessThanOrEqual(mem.external as number);
    // The master's RSS, not this process's: within a factor of /proc's figure for its pid.
    const procRss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${c.master.process!.pid}/status`, 'utf8'))![1]) * 1024;
    expect(mem.rss as number).toBeGreaterThan(procRss / 2);
    expect(mem.rss as number).toBeLessThan(procRss * 2);
    const info = (await (await fetch(`http://127.0.0.1:${c.master.ports.http}/api/v1/info`)).json()) as { memory: Record<string, number> };
    expect(Object.keys(info.memory).sort()).toEqual(['arrayBuffers', 'external', 'heapTotal', 'heapUsed', 'rss']);
  });
});

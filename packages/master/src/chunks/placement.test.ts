import { describe, expect, it } from 'vitest';
import type { Chunkserver } from './chunkserver-registry.js';
import { MIN_FREE_FOR_PLACEMENT, placeCopies } from './placement.js';
import { ReplicationLimits } from './replication-limits.js';

const GiB = 1024 ** 3;

function server(csid: number, freeBytes: number, repWrites = 0): Chunkserver {
  return {
    csid,
    address: { host: '127.0.0.1', port: 9422 + csid },
    labels: [],
    totalSpace: 100 * GiB,
    usedSpace: 100 * GiB - freeBytes,
    chunkCount: 0,
    damagedDisks: 0,
    link: undefined,
    lastHeartbeatMs: 0,
    reported: true,
    load: { repWrites, repReads: 0, deletes: 0 },
    disks: [],
    bytesRead: 0,
    bytesWritten: 0,
    registeredMs: 0,
  };
}

describe('placement', () => {
  it('picks the servers with most free space, distinct, never excluded ones', () => {
    const servers = [server(1, 10 * GiB), server(2, 50 * GiB), server(3, 30 * GiB)];
    expect(placeCopies(servers, 2).map((s) => s.csid)).toEqual([2, 3]);
    expect(placeCopies(servers, 2, new Set([2])).map((s) => s.csid)).toEqual([3, 1]);
    expect(placeCopies(servers, 5).map((s) => s.csid)).toEqual([2, 3, 1]);
  });

  it('skips a server without room for a whole chunk', () => {
    const servers = [server(1, MIN_FREE_FOR_PLACEMENT - 1), server(2, MIN_FREE_FOR_PLACEMENT)];
    expect(placeCopies(servers, 2).map((s) => s.csid)).toEqual([2]);
    expect(placeCopies([server(1, 1024)], 1)).toEqual([]);
  });

  it('breaks ties by writes in flight, then by id', () => {
    const servers = [server(3, GiB), server(1, GiB, 2), server(2, GiB)];
    expect(placeCopies(servers, 3).map((s) => s.csid)).toEqual([2, 3, 1]);
  });
});

describe('replication limits', () => {
  it('counts replications per destination, per source and globally, and gives slots back once', () => {
    const limits = new ReplicationLimits({ writesPerServer: 2, readsPerServer: 1, global: 3, deletesPerServer: 1 });
    const [a, b, c, d] = [server(1, GiB), server(2, GiB), server(3, GiB), server(4, GiB)];
    const done1 = limits.startReplication(a, b);
    expect(limits.canReadFrom(b)).toBe(false);
    expect(limits.canReplicateInto(a)).toBe(true);
    limits.startReplication(a, c);
    expect(limits.canReplicateInto(a)).toBe(false);
    limits.startReplication(d, a);
    expect(limits.canReplicateInto(b)).toBe(false); // global limit
    done1();
    done1();
    expect(limits.replicationsInFlight).toBe(2);
    expect(limits.canReadFrom(b)).toBe(true);
    expect(limits.canReplicateInto(b)).toBe(true);
    const del = limits.startDeletion(a);
    expect(limits.canDeleteOn(a)).toBe(false);
    del();
    expect(limits.canDeleteOn(a)).toBe(true);
  });
});

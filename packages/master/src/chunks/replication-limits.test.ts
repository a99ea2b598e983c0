import type { Connection } from '@tsmfs/rpc';
import { describe, expect, it } from 'vitest';
import { type Chunkserver, ChunkserverRegistry } from './chunkserver-registry.js';
import { ReplicationLimits, type ReplicationLimitsConfig, limitIndex } from './replication-limits.js';

/** MooseFS 3.0's defaults: write 2,1,1,4, read 10,5,2,5. */
const MOOSEFS: ReplicationLimitsConfig = { writesPerServer: [2, 1, 1, 4], readsPerServer: [10, 5, 2, 5], global: 50, deletesPerServer: 10 };

function servers(n: number): Chunkserver[] {
  const registry = new ChunkserverRegistry();
  const link = { closed: false } as unknown as Connection;
  return Array.from({ length: n }, (_, i) => registry.register({ host: '127.0.0.1', port: 9422 + i, labels: [], totalSpace: 1e12, usedSpace: 0, chunkCount: 0 }, link, '127.0.0.1'));
}

describe('replication limits', () => {
  it('counts replications per destination, per source and globally, and gives slots back once', () => {
    const limits = new ReplicationLimits({ writesPerServer: [2, 2, 2, 2], readsPerServer: [1, 1, 1, 1], global: 3, deletesPerServer: 1 });
    const [a, b, c, d] = servers(4) as [Chunkserver, Chunkserver, Chunkserver, Chunkserver];
    const under = { kind: 'underGoal' } as const;
    const done1 = limits.startReplication(a, b, 'underGoal');
    expect(limits.canReadFrom(b, under)).toBe(false);
    expect(limits.canReplicateInto(a, under)).toBe(true);
    limits.startReplication(a, c, 'underGoal');
    expect(limits.canReplicateInto(a, under)).toBe(false);
    limits.startReplication(d, a, 'underGoal');
    expect(limits.canReplicateInto(b, under)).toBe(false); // global limit
    expect(a.load).toMatchObject({ repWrites: 2, repReads: 1 });
    done1();
    done1();
    expect(limits.replicationsInFlight).toBe(2);
    expect(limits.canReadFrom(b, under)).toBe(true);
    expect(limits.canReplicateInto(b, under)).toBe(true);
    const del = limits.startDeletion(a);
    expect(limits.canDeleteOn(a)).toBe(false);
    del();
    expect(limits.canDeleteOn(a)).toBe(true);
  });

  it('maps each kind to its MooseFS limit: endangered, under goal and wrong labels, rebalancing near and far', () => {
    expect(limitIndex({ kind: 'endangered' })).toBe(0);
    expect(limitIndex({ kind: 'underGoal' })).toBe(1);
    expect(limitIndex({ kind: 'wrongLabels' })).toBe(1);
    expect(limitIndex({ kind: 'rebalance' })).toBe(2);
    expect(limitIndex({ kind: 'rebalance', far: true })).toBe(3);
  });

  it('with 2,1,1,4: a destination whose under-goal slot is taken still takes an endangered replication (as MooseFS: 2 in flight in all)', () => {
    const limits = new ReplicationLimits(MOOSEFS);
    const [dst, s1, s2, s3] = servers(4) as [Chunkserver, Chunkserver, Chunkserver, Chunkserver];
    limits.startReplication(dst, s1, 'underGoal');
    expect(limits.canReplicateInto(dst, { kind: 'underGoal' })).toBe(false);
    expect(limits.canReplicateInto(dst, { kind: 'wrongLabels' })).toBe(false);
    expect(limits.canReplicateInto(dst, { kind: 'endangered' })).toBe(true);
    limits.startReplication(dst, s2, 'endangered');
    expect(limits.canReplicateInto(dst, { kind: 'endangered' })).toBe(false);
    // Another destination: the endangered limit is per server.
    expect(limits.canReplicateInto(s3, { kind: 'endangered' })).toBe(true);
    expect(limits.inFlight()).toEqual({ endangered: 1, underGoal: 1, wrongLabels: 0, rebalance: 0 });
  });

  it('with 2,1,1,4: rebalancing fills a server to its own limit and never takes an endangered or under-goal slot', () => {
    const limits = new ReplicationLimits(MOOSEFS);
    const [dst, src, other] = servers(3) as [Chunkserver, Chunkserver, Chunkserver];
    const far = { kind: 'rebalance', far: true } as const;
    for (let i = 0; i < 4; i++) {
      expect(limits.canReplicateInto(dst, far)).toBe(true);
      limits.startReplication(dst, src, 'rebalance');
    }
    expect(limits.canReplicateInto(dst, far)).toBe(false);
    expect(limits.canReplicateInto(dst, { kind: 'rebalance' })).toBe(false);
    // Four rebalancing copies in flight into dst (and out of src): the urgent kinds are not held back.
    expect(limits.canReplicateInto(dst, { kind: 'endangered' })).toBe(true);
    expect(limits.canReplicateInto(dst, { kind: 'underGoal' })).toBe(true);
    expect(limits.canReadFrom(src, { kind: 'endangered' })).toBe(true);
    // Rebalancing counts everything in flight: an under-goal copy into `other` uses its near limit (1).
    limits.startReplication(other, src, 'underGoal');
    expect(limits.canReplicateInto(other, { kind: 'rebalance' })).toBe(false);
    expect(limits.canReplicateInto(other, far)).toBe(true);
  });

  it('reads: a source at its under-goal limit (5) still serves endangered copies up to 10', () => {
    const limits = new ReplicationLimits(MOOSEFS);
    const [src, ...dsts] = servers(12) as Chunkserver[];
    for (let i = 0; i < 5; i++) limits.startReplication(dsts[i]!, src!, 'underGoal');
    expect(limits.canReadFrom(src!, { kind: 'underGoal' })).toBe(false);
    for (let i = 5; i < 10; i++) {
      expect(limits.canReadFrom(src!, { kind: 'endangered' })).toBe(true);
      limits.startReplication(dsts[i]!, src!, 'endangered');
    }
    expect(limits.canReadFrom(src!, { kind: 'endangered' })).toBe(false);
    expect(src!.load.repReads).toBe(10);
  });

  it('the cluster-wide limit: rebalancing in flight leaves it whole for the other kinds', () => {
    const limits = new ReplicationLimits({ ...MOOSEFS, global: 2 });
    const [a, b, c, d] = servers(4) as [Chunkserver, Chunkserver, Chunkserver, Chunkserver];
    limits.startReplication(a, b, 'rebalance');
    limits.startReplication(c, d, 'rebalance');
    expect(limits.room({ kind: 'rebalance' })).toBe(0);
    expect(limits.room({ kind: 'endangered' })).toBe(2);
    const done = limits.startReplication(b, a, 'underGoal');
    expect(limits.room({ kind: 'underGoal' })).toBe(1);
    expect(limits.room({ kind: 'endangered' })).toBe(1);
    done();
    expect(limits.room({ kind: 'underGoal' })).toBe(2);
  });

  it('new limits (a reload) apply to what is in flight', () => {
    const limits = new ReplicationLimits(MOOSEFS);
    const [dst, src] = servers(2) as [Chunkserver, Chunkserver];
    limits.startReplication(dst, src, 'underGoal');
    expect(limits.canReplicateInto(dst, { kind: 'underGoal' })).toBe(false);
    limits.config = { ...MOOSEFS, writesPerServer: [3, 2, 1, 4] };
    expect(limits.canReplicateInto(dst, { kind: 'underGoal' })).toBe(true);
    limits.config = { ...MOOSEFS, writesPerServer: [0, 0, 0, 0] };
    expect(limits.canReplicateInto(dst, { kind: 'endangered' })).toBe(false);
  });
});

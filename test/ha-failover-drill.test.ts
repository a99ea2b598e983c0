/**
 * The failover drill (issue 12, "What must be shown"; docs/ha.md, "The failover drill"):
 * three masters on one etcd, three chunkservers reporting to all of them, one FUSE mount
 * running a workload that writes files of known content, renames and removes them
 * (packages/launcher/src/failover-drill.ts). Rounds of SIGKILL the leader + start it again
 * a few seconds later (it rejoins as a follower). The checker then reads everything back
 * through the mount: every acknowledged operation present with exactly its content,
 * nothing applied twice, unknown outcomes all-or-nothing, the workload saw no error.
 * bench/ha.js --drill runs the same with 10 rounds and reports the failover times.
 */
import { join } from 'node:path';
import { DrillWorkload, checkDrill } from '@tsmfs/launcher';
import { describe, expect, it } from 'vitest';
import { Mount, makeTempDir } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';
import { HaGroup, status } from './fixture/ha-group.js';
import { until } from './fixture/poll.js';

const ROUNDS = 3;
/**
 * HA_SYNC_STANDBYS of the group: 1, so that no acknowledged operation may be lost
 * (docs/ha.md, synchronous standbys). With 0 failover is asynchronous — what the leader
 * acknowledged in the instant before its death may not have reached the follower that
 * takes over ("What an asynchronous failover can lose") — and such losses would be
 * reported, not failed on (TSMFS_DRILL_SYNC=0 runs it so).
 */
const SYNC_STANDBYS = Number(process.env.TSMFS_DRILL_SYNC ?? 1);

describe('the failover drill', () => {
  it(`${ROUNDS} rounds of SIGKILL the leader under a mount's workload: every acknowledged operation there, once, byte for byte`, async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 3, { HA_SYNC_STANDBYS: SYNC_STANDBYS });
    await group.leader();
    await Promise.all((await group.chunkservers(3)).map((cs) => cs.waitRegistered(30_000)));
    const mount = await Mount.start({ masters: group.addresses, path: makeTempDir('tsmfs-drill-mnt-') });
    const workload = new DrillWorkload({ root: join(mount.path, 'drill'), workers: 2 });
    await workload.start();

    const failovers: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const before = workload.acknowledged;
      await until('the workload going', async () => (workload.acknowledged >= before + 10 ? true : undefined), 60_000, 50);
      const { leader } = await group.leader();
      const killedAt = performance.now();
      await leader.kill('SIGKILL');
      const acked = await until('an operation acknowledged after the kill', async () => workload.firstAckAfter(killedAt), 60_000, 20);
      failovers.push(acked - killedAt);
      // It comes back a few seconds after its death, and rejoins as a follower.
      await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (performance.now() - killedAt))));
      await leader.start();
      await until(`${leader.name} following`, async () => ((await status(leader).catch(() => undefined))?.role === 'follower' ? true : undefined), 60_000, 100);
    }
    const last = workload.acknowledged;
    await until('the workload going after the last round', async () => (workload.acknowledged >= last + 10 ? true : undefined), 60_000, 50);
    await workload.stop();
    const report = await checkDrill(join(mount.path, 'drill'), workload.history);
    process.stdout.write(
      `failover drill: ${ROUNDS} rounds, failover (kill → first acknowledged operation) ${failovers.map((ms) => ms.toFixed(0)).join(', ')} ms; ` +
        `${report.acknowledged} acknowledged operations; lost ${report.lost.length}, misapplied ${report.misapplied.length}, corrupt ${report.corrupt.length}, partial ${report.partial.length}, errors ${report.errors.length}\n`,
    );
    expect(report.acknowledged).toBeGreaterThan(ROUNDS * 10);
    expect(report.corrupt).toEqual([]);
    expect(report.partial).toEqual([]);
    if (SYNC_STANDBYS === 0 && report.lost.length > 0) {
      // Asynchronous failover lost what the dead leader acknowledged last; what follows
      // from it (an operation on a name whose creation was lost fails) is not asserted.
      process.stdout.write(`failover drill with HA_SYNC_STANDBYS = 0: acknowledged operations lost (asynchronous failover, docs/ha.md): ${report.lost.join('; ')}; errors: ${report.errors.join('; ')}\n`);
      return;
    }
    expect(report.lost).toEqual([]);
    expect(report.misapplied).toEqual([]);
    expect(report.errors).toEqual([]);
  });
});

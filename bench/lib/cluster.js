// A master and N chunkservers on loopback in `dir`, with a root session: what the data
// path benchmarks stand on, and with `mountCluster` what the mount benchmarks stand on.
// Started by the one launcher (@tsmfs/launcher), as the tests' and `npm start`'s clusters.
import { Cluster } from '@tsmfs/launcher';
import './daemons.js';

/** `masterConfig` and `csConfig` add or override master and chunkserver keys (e.g. CHUNKS_LOOP_MIN_TIME, HDD_TEST_FREQ). */
export async function startDataCluster(dir, { chunkservers = 3, masterConfig = {}, csConfig = {} } = {}) {
  const cluster = await Cluster.create({
    dir,
    master: { exports: ['127.0.0.1 / rw,alldirs,maproot=0'], config: { REPLICATIONS_DELAY_INIT: 0, ...masterConfig } },
  });
  await cluster.addChunkservers(chunkservers, { config: { HDD_LEAVE_SPACE_DEFAULT: '64MiB', ...csConfig } });
  const session = await cluster.session({ cred: { uid: 0, gid: 0, groups: [] } });
  return Object.assign(cluster, { session, clientPort: cluster.master.ports.matocl });
}

/**
 * Sets the root's goal and mounts the cluster at `mnt` with tsmfs-mount in the
 * foreground (so its pid is the mount's); resolves once the kernel lists the mount.
 * Node flags (a profiler's) come from the launcher's `settings.nodeFlags`.
 */
export async function mountCluster(cluster, mnt, { goal = 2 } = {}) {
  await cluster.session.setgoal(cluster.session.root, goal);
  await cluster.mount({ path: mnt });
  return mnt;
}

/** Unmounts and stops every process of the cluster, mount first, master last. */
export async function stopCluster(cluster) {
  cluster.session?.close();
  await cluster.stop();
}

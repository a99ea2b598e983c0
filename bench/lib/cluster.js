// A master and N chunkservers on loopback in `dir`, with a root session: what the data
// path benchmarks stand on, and with `mountCluster` what the mount benchmarks stand on.
// Config files are written the way an operator would.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MasterSession } from '@tsmfs/client';
import { freePort, spawnDaemon, stopWithin, unmount, waitForMount } from './daemons.js';

const cfg = (entries) => Object.entries(entries).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n';

/** `masterConfig` adds or overrides master keys (e.g. CHUNKS_LOOP_MIN_TIME). */
export async function startDataCluster(dir, { chunkservers: count = 3, masterConfig = {} } = {}) {
  const [matocl, matocs, matoml, http] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  mkdirSync(join(dir, 'master'));
  writeFileSync(join(dir, 'exports.cfg'), '127.0.0.1 / rw,alldirs,maproot=0\n');
  writeFileSync(
    join(dir, 'master.cfg'),
    cfg({
      DATA_PATH: join(dir, 'master'),
      EXPORTS_FILENAME: join(dir, 'exports.cfg'),
      MATOCL_LISTEN_HOST: '127.0.0.1',
      MATOCL_LISTEN_PORT: matocl,
      MATOCS_LISTEN_HOST: '127.0.0.1',
      MATOCS_LISTEN_PORT: matocs,
      MATOML_LISTEN_HOST: '127.0.0.1',
      MATOML_LISTEN_PORT: matoml,
      HTTP_LISTEN_PORT: http,
      REPLICATIONS_DELAY_INIT: 0,
      ...masterConfig,
    }),
  );
  const master = spawnDaemon('packages/master/dist/bin/tsmfs-master.js', ['-c', join(dir, 'master.cfg')]);
  await master.ready;
  const chunkservers = [];
  for (let i = 1; i <= count; i++) {
    const cdir = join(dir, `cs${i}`);
    mkdirSync(join(cdir, 'hdd'), { recursive: true });
    writeFileSync(join(cdir, 'hdd.cfg'), `${join(cdir, 'hdd')}\n`);
    const port = await freePort();
    writeFileSync(
      join(cdir, 'cs.cfg'),
      cfg({
        MASTER_HOST: '127.0.0.1',
        MASTER_PORT: matocs,
        CSSERV_LISTEN_HOST: '127.0.0.1',
        CSSERV_LISTEN_PORT: port,
        HDD_CONF_FILENAME: join(cdir, 'hdd.cfg'),
        DATA_PATH: cdir,
        HDD_LEAVE_SPACE_DEFAULT: '64MiB',
      }),
    );
    const cs = spawnDaemon('packages/chunkserver/dist/bin/tsmfs-chunkserver.js', ['-c', join(cdir, 'cs.cfg')], { readyLine: 'registered with the master' });
    chunkservers.push({ ...cs, port });
  }
  await Promise.all(chunkservers.map((c) => c.ready));
  const session = await MasterSession.open({ masters: [{ host: '127.0.0.1', port: matocl }], cred: { uid: 0, gid: 0, groups: [] } });
  return { master, chunkservers, session, clientPort: matocl };
}

/**
 * Sets the root's goal and mounts the cluster at `mnt` with tsmfs-mount in the
 * foreground (so its pid is the mount's); resolves once the kernel lists the mount.
 */
export async function mountCluster(cluster, mnt, { goal = 2, nodeFlags = [] } = {}) {
  await cluster.session.setgoal(cluster.session.root, goal);
  mkdirSync(mnt, { recursive: true });
  const mount = spawnDaemon('packages/mount/dist/bin/tsmfs-mount.js', [mnt, '-f', '-H', '127.0.0.1', '-P', String(cluster.clientPort)], { readyLine: '"msg":"mounted"', nodeFlags });
  cluster.mount = { ...mount, mnt };
  await waitForMount(mnt, mount.child);
  return mnt;
}

/** Unmounts (if mounted) and stops every process of the cluster, mount first, master last. */
export async function stopCluster(cluster) {
  cluster.session?.close();
  if (cluster.mount) {
    unmount(cluster.mount.mnt);
    await stopWithin(cluster.mount.child);
  }
  await Promise.all(cluster.chunkservers.map((c) => stopWithin(c.child)));
  if (cluster.master) await stopWithin(cluster.master.child);
}

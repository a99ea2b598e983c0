#!/usr/bin/env node
// The embedded default: a whole tsmfs cluster on loopback with all its data under one
// folder (default ./.tsmfs), in the foreground until Ctrl-C. Started by the same launcher
// as the tests' and benchmarks' clusters (@tsmfs/launcher), on fixed ports.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';

const root = resolve(import.meta.dirname, '..');
const program = new Command('local-cluster')
  .description('Start a local tsmfs cluster (master, chunkservers, metalogger, mount) on loopback')
  .option('-d, --dir <dir>', "folder holding every daemon's data, configs and logs", join(root, '.tsmfs'))
  .option('--chunkservers <n>', 'number of chunkservers', '3')
  .option('--base-port <port>', 'first of the ports used (master 9419–9425 by default)', '9419')
  .option('--ha', 'an HA group instead of one master: a local etcd and three masters on 127.0.0.1, .2 and .3 (docs/ha.md)')
  .option('--cpu-prof <dir>', 'run every daemon and the mount with node --cpu-prof; their profiles land in <dir> when they stop')
  .parse();
const opts = program.opts();
const dir = resolve(opts.dir);
const base = Number(opts.basePort);
const logDir = join(dir, 'log');

const launcherEntry = join(root, 'packages/launcher/dist/index.js');
if (!existsSync(launcherEntry)) {
  console.error('local-cluster: not built yet: run `npm run build` (scripts/setup.sh does it)');
  process.exit(1);
}
const { BIN, Cluster, Etcd, ETCD_BIN, settings, stopEverything } = await import('@tsmfs/launcher');

/** The group's masters: one machine standing for three, as in the HA tests. */
const HA_HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

/** A daemon that is not built yet is skipped with a note, so this grows with the project. */
function built(label, bin) {
  if (existsSync(bin)) return true;
  console.log(`  ${label.padEnd(14)} not built yet (${bin.replace(root + '/', '')}): skipped`);
  return false;
}

async function main() {
  mkdirSync(logDir, { recursive: true });
  // Each daemon's whole log goes to its file; a failure message quotes its tail.
  settings.readyTimeoutMs = 60_000;
  settings.outputKeep = 100_000;
  if (opts.cpuProf) settings.nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${resolve(opts.cpuProf)}`];
  console.log(`tsmfs local cluster in ${dir}`);
  if (!built('master', BIN.master)) return;
  const ports = { matoml: base, matocs: base + 1, matocl: base + 2, http: base + 6 };
  let ha;
  if (opts.ha) {
    if (!existsSync(ETCD_BIN)) throw new Error(`--ha needs etcd (${ETCD_BIN}): scripts/setup.sh installs Debian's etcd-server`);
    // Ports of its own, so that a system etcd on 2379/2380 is left alone.
    const etcd = await Etcd.start({ dir: join(dir, 'etcd'), clientPort: base + 60, peerPort: base + 61, logFile: join(logDir, 'etcd.log') });
    console.log(`  etcd           ${etcd.endpoint}, data in ${etcd.dir}`);
    // A fixed HA_CLUSTER_NAME: started again on the same folder, the group finds its keys.
    ha = { etcd, hosts: HA_HOSTS, clusterName: 'local' };
  }
  // With a group, one synchronous standby: a change is answered once a second master has
  // it, so that killing the leader loses nothing acknowledged (docs/ha.md).
  const master = ha ? { config: { HA_SYNC_STANDBYS: 1 } } : undefined;
  const cluster = await Cluster.create({ dir, ports, logDir, ha, master });
  for (const m of cluster.masters) {
    console.log(`  ${m.name.padEnd(14)} ${m.host}:${ports.matocl} (clients), ${m.httpUrl}/, data in ${m.dataPath}`);
  }
  if (cluster.group) {
    const { leader } = await cluster.group.leader(cluster.masters, 30_000);
    console.log(`  leader         ${leader.name} (${leader.host}); GET /api/status on any master shows its role`);
  }
  const waits = [];
  if (built('chunkservers', BIN.chunkserver)) {
    const n = Number(opts.chunkservers);
    const added = cluster.addChunkservers(n, {
      ports: Array.from({ length: n }, (_, i) => base + 104 + i),
      name: (i) => `chunkserver${i}`,
      disksOf: (name) => [join(dir, name, 'disk')],
      config: { HDD_LEAVE_SPACE_DEFAULT: '256MiB' },
    });
    waits.push(added.then((css) => css.forEach((cs) => console.log(`  ${cs.name.padEnd(14)} 127.0.0.1:${cs.port}, disk ${cs.disks[0]}`))));
  }
  if (built('metalogger', BIN.metalogger)) {
    waits.push(cluster.addMetalogger().then((ml) => console.log(`  metalogger     data in ${ml.dataPath}`)));
  }
  await Promise.all(waits);
  if (built('mount', BIN.mount)) {
    const m = await cluster.mount({ path: join(dir, 'mnt') });
    console.log(`  mount          ${m.path}`);
  }
  console.log(`logs in ${logDir}; Ctrl-C stops everything`);
  for (const d of [...cluster.masters, ...cluster.chunkservers, ...cluster.metaloggers, ...cluster.mounts]) {
    void d.process.exited.then(({ code, signal }) => {
      if (!stopping) console.error(`local-cluster: ${d.name ?? 'mount'} exited (code ${code}, signal ${signal}); see ${logDir}`);
    });
  }
}

let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  await stopEverything({ signal: 'SIGTERM' });
  process.exit(code);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
main().catch((err) => {
  console.error(`local-cluster: ${err.message}`);
  void stopAll(1);
});

// MooseFS 3.0 from Debian's packages as the reference the compare benchmark measures
// tsmfs against: installed if missing (root only), started on loopback in a temp dir on
// free ports (master, N chunkservers, mfsmount, goal 2) and stopped by pid. Every daemon
// runs with -f, so the pid we spawn is the daemon's own and nothing is left to find by name.
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, childPids, freePort, spawnProgram, stopWithin, unmount, waitForMount, waitForPids } from './daemons.js';

const run = promisify(execFile);
const cfg = (entries) => Object.entries(entries).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n';

/** The packages of scripts/debian-packages.txt with the role `bench`: MooseFS itself. */
export function moosefsPackages() {
  return readFileSync(join(REPO_ROOT, 'scripts/debian-packages.txt'), 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim().split(/\s+/))
    .filter(([name, role]) => name && role === 'bench')
    .map(([name]) => name);
}

const installed = (pkg) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed');

/**
 * Installs the MooseFS packages that are missing with apt-get. Needs root; without it,
 * throws with the command to run. fuse3 must survive (our mount unmounts with its
 * fusermount; Debian's moosefs-client only recommends it, it conflicts with nothing).
 */
export async function ensureMooseFS(progress) {
  const missing = moosefsPackages().filter((p) => !installed(p));
  if (missing.length === 0) return;
  if (process.getuid() !== 0) {
    throw new Error(`MooseFS is not installed and installing it needs root: run \`sudo scripts/setup.sh\` or \`sudo apt-get install --no-install-recommends ${missing.join(' ')}\`, then this again`);
  }
  progress(`installing ${missing.join(' ')} (apt-get, as root)`);
  const apt = (args) => spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 900_000 });
  const install = () => apt(['install', '-y', '-q', '--no-install-recommends', ...missing]).status === 0;
  if (!install() && !(apt(['update', '-q']).status === 0 && install())) throw new Error(`apt-get install ${missing.join(' ')} failed`);
  if (!installed('fuse3')) throw new Error('installing MooseFS removed fuse3; run scripts/setup.sh to put it back');
}

export async function moosefsVersion() {
  const { stdout } = await run('mfsmaster', ['-v']);
  return stdout.trim().replace(/^version:\s*/i, '');
}

/** Ports of the cluster: MooseFS's own order (metaloggers, chunkservers, clients). */
async function ports(chunkservers) {
  const all = await Promise.all(Array.from({ length: 3 + chunkservers }, () => freePort()));
  return { matoml: all[0], matocs: all[1], matocl: all[2], csserv: all.slice(3) };
}

/**
 * The master's config. MooseFS 3.0 refuses a chunkserver whose address is in 127/8 (it
 * would hand that address to clients on other machines); the check runs after REMAP_*,
 * so 127.0.0.1 is remapped to 0.0.0.0, which a connect() on Linux also reaches locally.
 * Everything else is MooseFS's default (CHANGELOG_SAVE_MODE 0, NICE_LEVEL -19), as an
 * administrator who installs it gets it, unless `extra` says otherwise.
 */
function masterConfig(dir, p, extra) {
  return cfg({
    WORKING_USER: 'root',
    WORKING_GROUP: 'root',
    SYSLOG_IDENT: `mfsmaster-${p.matocl}`,
    DATA_PATH: join(dir, 'master'),
    EXPORTS_FILENAME: join(dir, 'mfsexports.cfg'),
    TOPOLOGY_FILENAME: join(dir, 'mfstopology.cfg'),
    MATOML_LISTEN_HOST: '127.0.0.1',
    MATOML_LISTEN_PORT: p.matoml,
    MATOCS_LISTEN_HOST: '127.0.0.1',
    MATOCS_LISTEN_PORT: p.matocs,
    MATOCL_LISTEN_HOST: '127.0.0.1',
    MATOCL_LISTEN_PORT: p.matocl,
    REMAP_BITS: 32,
    REMAP_SOURCE_IP_CLASS: '127.0.0.1',
    REMAP_DESTINATION_IP_CLASS: '0.0.0.0',
    ...extra,
  });
}

/**
 * A chunkserver's config. mfschunkserver refuses a MASTER_HOST in 127/8, so it dials
 * 0.0.0.0 (the local host on Linux) from BIND_HOST 127.0.0.1: loopback on both ends.
 */
function chunkserverConfig(dir, i, p) {
  writeFileSync(join(dir, `mfshdd${i}.cfg`), `${join(dir, `hdd${i}`)}\n`);
  return cfg({
    WORKING_USER: 'root',
    WORKING_GROUP: 'root',
    SYSLOG_IDENT: `mfschunkserver-${p.csserv[i - 1]}`,
    DATA_PATH: join(dir, `cs${i}`),
    HDD_CONF_FILENAME: join(dir, `mfshdd${i}.cfg`),
    BIND_HOST: '127.0.0.1',
    MASTER_HOST: '0.0.0.0',
    MASTER_PORT: p.matocs,
    CSSERV_LISTEN_HOST: '127.0.0.1',
    CSSERV_LISTEN_PORT: p.csserv[i - 1],
  });
}

/** Waits until `count` chunkservers are registered with space (their disks scanned). */
async function chunkserversWithSpace(p, count, timeoutMs = 120_000) {
  for (const t0 = Date.now(); ; ) {
    const { stdout } = await run('mfscli', ['-H', '127.0.0.1', '-P', String(p.matocl), '-SCS', '-p']).catch(() => ({ stdout: '' }));
    // -p: tab-separated; after the label: ip, port, id, …, chunks, used bytes, total bytes.
    const ready = stdout.split('\n').filter((l) => l.startsWith('chunk servers:') && Number(l.split('\t')[10]) > 0);
    if (ready.length >= count) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`MooseFS: ${ready.length} of ${count} chunkservers registered with space after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Readiness is read from the lines MooseFS logs to stderr (syslog's copy, unbuffered);
 * its stdout is a pipe here, so C stdio holds those lines until the daemon exits.
 *
 * Starts MooseFS in `dir` (empty, traversable by root) and mounts it at `dir/mnt` with the
 * root's goal set. Returns `{ mnt, ports, processes, stop }` (ports: matoml, matocs, matocl, csserv[]); on failure what was started is stopped.
 */
export async function startMooseFS(dir, { chunkservers = 3, goal = 2, masterConfig: extra = {} } = {}) {
  const p = await ports(chunkservers);
  const processes = [];
  const mnt = join(dir, 'mnt');
  const cluster = { mnt, ports: p, processes, stop: () => stopMooseFS(cluster) };
  try {
    for (const d of ['master', 'mnt', ...Array.from({ length: chunkservers }, (_, i) => [`cs${i + 1}`, `hdd${i + 1}`]).flat()]) mkdirSync(join(dir, d));
    // A new master starts from the empty metadata file the package ships.
    const empty = ['/var/lib/mfs/metadata.mfs.empty', '/usr/share/mfs/metadata.mfs.empty'].find((f) => existsSync(f));
    if (empty) copyFileSync(empty, join(dir, 'master/metadata.mfs'));
    else writeFileSync(join(dir, 'master/metadata.mfs'), 'MFSM NEW');
    writeFileSync(join(dir, 'mfsexports.cfg'), '127.0.0.1\t/\trw,alldirs,admin,maproot=0:0\n');
    writeFileSync(join(dir, 'mfstopology.cfg'), '');
    writeFileSync(join(dir, 'mfsmaster.cfg'), masterConfig(dir, p, extra));
    const master = spawnProgram('mfsmaster', ['-f', '-c', join(dir, 'mfsmaster.cfg'), 'start'], { readyLine: 'main master server module: listen on' });
    processes.push(master);
    await master.ready;
    for (let i = 1; i <= chunkservers; i++) {
      writeFileSync(join(dir, `mfschunkserver${i}.cfg`), chunkserverConfig(dir, i, p));
      const cs = spawnProgram('mfschunkserver', ['-f', '-c', join(dir, `mfschunkserver${i}.cfg`), 'start'], { readyLine: 'connected to Master' });
      processes.push(cs);
      await cs.ready;
    }
    await chunkserversWithSpace(p, chunkservers);
    const mount = spawnProgram('mfsmount', ['-f', mnt, '-o', `mfsmaster=127.0.0.1,mfsport=${p.matocl}`]);
    processes.push(mount);
    await waitForMount(mnt, mount.process);
    await run('mfssetgoal', ['-r', String(goal), mnt]);
    return cluster;
  } catch (err) {
    await stopMooseFS(cluster);
    throw err;
  }
}

/**
 * Unmounts, then stops the mount, the chunkservers and last the master (which dumps its
 * metadata). The master's changelog writer is a process it forked and outlives it for a
 * moment: waited for by pid, so that nothing writes into the directory once we return.
 */
async function stopMooseFS({ mnt, processes }) {
  await unmount(mnt);
  for (const { child } of [...processes].reverse()) {
    const helpers = child.exitCode === null ? childPids(child.pid) : [];
    await stopWithin(child);
    await waitForPids(helpers);
  }
}

#!/usr/bin/env node
// Mount benchmarks (issue 4): a tsmfs cluster on loopback (master, 3 chunkservers, goal 2)
// mounted with tsmfs-mount, then bench/mount-workloads.sh on the mount (sequential 1 GiB
// write/read with 1 MiB blocks, fio 4 KiB random read/write with psync, 10,000-file
// create/stat/rename/unlink, 5,000 x 4 KiB files, tar -x and rm -rf of /usr/include).
// `--target DIR` runs the same workloads on another directory instead (a MooseFS mount,
// a local folder), for comparison. `--hold` keeps the cluster and mount up until Ctrl-C
// and prints the mount point, for other tools. JSON on stdout, progress on stderr.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { MasterSession } from '@tsmfs/client';
import { freePort, spawnDaemon } from './lib/daemons.js';

const root = resolve(import.meta.dirname, '..');
const opts = new Command('bench-mount')
  .option('--target <dir>', 'run the workloads on this directory instead of a new tsmfs mount')
  .option('--hold', 'start the cluster and the mount, print the mount point, wait for Ctrl-C')
  .option('--goal <n>', 'goal of the root', '2')
  .option('--save-mode <n>', 'CHANGELOG_SAVE_MODE of the master (0, 1, 2; default: the master\'s default)')
  .option('--cpu-prof <dir>', 'run every daemon and the mount with node --cpu-prof, profiles written to <dir> at the end')
  .parse()
  .opts();
const progress = (m) => process.stderr.write(`[bench mount] ${m}\n`);

/** node flags of the daemons and the mount: CPU profiles when asked for. */
const nodeFlags = () => (opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`] : []);

function runWorkloads(dir) {
  return new Promise((res, rej) => {
    const p = spawn(join(root, 'bench/mount-workloads.sh'), [dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('close', (code) => (code === 0 ? res(JSON.parse(out)) : rej(new Error(`workloads exited ${code}`))));
  });
}

if (opts.target) {
  console.log(JSON.stringify({ target: opts.target, ...(await runWorkloads(opts.target)) }, null, 2));
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-mount-'));
const children = [];
const mnt = join(dir, 'mnt');
let mounted = false;
const cleanup = async () => {
  if (mounted) {
    try {
      execFileSync('fusermount', ['-u', '-z', mnt], { stdio: 'ignore' });
    } catch {}
  }
  // A profile is written only on a clean exit: SIGTERM first, then SIGKILL whatever is left.
  if (opts.cpuProf) {
    for (const c of [...children].reverse()) {
      if (c.exitCode !== null) continue;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
  }
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
try {
  const [cl, cs, ml, http] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  mkdirSync(join(dir, 'master'));
  writeFileSync(join(dir, 'exports.cfg'), '127.0.0.1 / rw,alldirs,maproot=0\n');
  writeFileSync(
    join(dir, 'master.cfg'),
    `DATA_PATH = ${dir}/master\nEXPORTS_FILENAME = ${dir}/exports.cfg\nMATOCL_LISTEN_HOST = 127.0.0.1\nMATOCL_LISTEN_PORT = ${cl}\n` +
      `MATOCS_LISTEN_HOST = 127.0.0.1\nMATOCS_LISTEN_PORT = ${cs}\nMATOML_LISTEN_HOST = 127.0.0.1\nMATOML_LISTEN_PORT = ${ml}\nHTTP_LISTEN_PORT = ${http}\nHTTP_LISTEN_HOST = 127.0.0.1\n` +
      (opts.saveMode === undefined ? '' : `CHANGELOG_SAVE_MODE = ${opts.saveMode}\n`),
  );
  const master = spawnDaemon('packages/master/dist/bin/tsmfs-master.js', ['-c', join(dir, 'master.cfg')], { readyLine: '"msg":"ready"', nodeFlags: nodeFlags() });
  children.push(master.child);
  await master.ready;
  for (let i = 1; i <= 3; i++) {
    const d = join(dir, `cs${i}`);
    mkdirSync(join(d, 'data'), { recursive: true });
    mkdirSync(join(d, 'hdd'));
    writeFileSync(join(d, 'hdd.cfg'), `${d}/hdd\n`);
    writeFileSync(
      join(d, 'cs.cfg'),
      `DATA_PATH = ${d}/data\nHDD_CONF_FILENAME = ${d}/hdd.cfg\nMASTER_HOST = 127.0.0.1\nMASTER_PORT = ${cs}\nCSSERV_LISTEN_HOST = 127.0.0.1\nCSSERV_LISTEN_PORT = ${await freePort()}\n`,
    );
    const c = spawnDaemon('packages/chunkserver/dist/bin/tsmfs-chunkserver.js', ['-c', join(d, 'cs.cfg')], { readyLine: 'registered with the master', nodeFlags: nodeFlags() });
    children.push(c.child);
    await c.ready;
  }
  const s = await MasterSession.open({ masters: [{ host: '127.0.0.1', port: cl }] });
  await s.setgoal(s.root, Number(opts.goal));
  s.close();
  mkdirSync(mnt);
  const mount = spawn(process.execPath, [...nodeFlags(), join(root, 'packages/mount/dist/bin/tsmfs-mount.js'), mnt, '-f', '-H', '127.0.0.1', '-P', String(cl)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LOG_LEVEL: 'warn' } });
  children.push(mount);
  for (let i = 0; !readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `); i++) {
    if (i > 200) throw new Error('not mounted after 20 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  mounted = true;
  progress(`mounted at ${mnt} (goal ${opts.goal}, 3 chunkservers)`);
  if (opts.hold) {
    console.log(mnt);
    await new Promise((r) => process.once('SIGINT', r));
  } else {
    console.log(JSON.stringify({ target: 'tsmfs', ...(await runWorkloads(mnt)) }, null, 2));
  }
} finally {
  await cleanup();
}

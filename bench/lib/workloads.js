// The compare benchmark's workloads, run through a mount on any file system (tsmfs,
// MooseFS): groups of steps that each start from an empty directory of their own and
// leave nothing behind, so that the two file systems can alternate group by group.
// Every group returns figures keyed as in compare-table.js's FIGURES.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './daemons.js';
import { runFsOps, treeDirs } from './fs-ops.js';

const execFileP = promisify(execFile);

/** Sizes of the full run (for the record) and of --quick (for development). */
export const SIZES = {
  full: { seqMiB: 1024, randMiB: 256, randSecs: 15, files: 10_000, dirFanout: [10, 9, 10], smallFiles: 5_000, smallKiB: 4, tree: 'usr/include', parallelFiles: 10_000, mixMiB: 64, mixSecs: 15 },
  quick: { seqMiB: 64, randMiB: 32, randSecs: 3, files: 1_000, dirFanout: [10, 9], smallFiles: 300, smallKiB: 4, tree: 'usr/include/linux', parallelFiles: 800, mixMiB: 16, mixSecs: 3 },
};

/** Runs a command; resolves with its wall time in seconds, rejects on a non-zero exit. */
function timed(command, args, { cwd, timeoutMs = 3_600_000 } = {}) {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs });
    let err = '';
    child.stderr.on('data', (b) => (err = (err + b).slice(-2000)));
    child.on('error', rej);
    child.on('close', (code, signal) => (code === 0 ? res((performance.now() - t0) / 1000) : rej(new Error(`${command} ${args.join(' ')}: exit ${code ?? signal}: ${err}`))));
  });
}

/**
 * Empties the kernel's caches (page cache, dentries, inodes) so that the next step asks
 * the file system, not the kernel: a "cold" figure. Needs root; without it the step is
 * warm, and `canDropCaches` says so in the results.
 */
export const canDropCaches = () => process.getuid() === 0;
async function dropCaches() {
  await timed('sync', []);
  if (canDropCaches()) writeFileSync('/proc/sys/vm/drop_caches', '3');
}

async function fio(args) {
  const { stdout } = await execFileP('fio', ['--output-format=json', '--ioengine=psync', ...args], { maxBuffer: 64 << 20, timeout: 3_600_000 });
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}
const iops = (out) => out.jobs.reduce((s, j) => s + j.read.iops + j.write.iops, 0);
const mibps = (out) => out.jobs.reduce((s, j) => s + j.read.bw_bytes + j.write.bw_bytes, 0) / 2 ** 20;

/**
 * Sequential 1 MiB I/O: write and close (wall time), write with an fsync at the end (wall
 * time), read cold, read O_DIRECT. Two writes because the two systems' fsyncs differ:
 * MooseFS 3.0's chunkservers do not sync on a client's fsync (HDD_FSYNC_BEFORE_CLOSE 0,
 * no fsync(2) at all), ours do (docs/benchmarks.md, "Sequential writes"). The first row
 * compares equal guarantees (every copy holds the bytes in memory), the second what each
 * system's fsync costs. Both start after a `sync`, so that neither pays for dirty pages
 * the step before left (the other system's, often).
 */
async function sequential(dir, s, step) {
  const file = (name) => ['--filename', join(dir, name), '--bs=1M', `--size=${s.seqMiB}M`];
  const write = async (name, extra) => {
    await timed('sync', []);
    const t0 = performance.now();
    await fio(['--name=seqwrite', ...file(name), '--rw=write', ...extra]);
    return s.seqMiB / ((performance.now() - t0) / 1000);
  };
  step(`sequential write ${s.seqMiB} MiB, close`);
  const seq_write_close = await write('seqc', []);
  await timed('rm', [join(dir, 'seqc')]);
  step(`sequential write ${s.seqMiB} MiB, end fsync`);
  const seq_write = await write('seq', ['--end_fsync=1']);
  await dropCaches();
  step('sequential read, cold');
  const seq_read_cold = mibps(await fio(['--name=seqread', ...file('seq'), '--rw=read']));
  step('sequential read, O_DIRECT');
  const seq_read_direct = mibps(await fio(['--name=seqdirect', ...file('seq'), '--rw=read', '--direct=1']));
  return { seq_write_close, seq_write, seq_read_cold, seq_read_direct };
}

/** 4 KiB random reads, then writes, one at a time (psync, O_DIRECT) on a file laid out first. */
async function random(dir, s, step) {
  const file = ['--filename', join(dir, 'rand'), `--size=${s.randMiB}M`];
  step(`4 KiB random I/O: laying out ${s.randMiB} MiB`);
  await fio(['--name=layout', ...file, '--bs=1M', '--rw=write', '--end_fsync=1']);
  const run = ['--bs=4k', '--direct=1', '--iodepth=1', '--time_based', `--runtime=${s.randSecs}`];
  step(`4 KiB random read, ${s.randSecs} s`);
  const rand_read = iops(await fio(['--name=randread', ...file, ...run, '--rw=randread']));
  step(`4 KiB random write, ${s.randSecs} s`);
  const rand_write = iops(await fio(['--name=randwrite', ...file, ...run, '--rw=randwrite']));
  return { rand_read, rand_write };
}

/** Empty files in one directory: create, stat (cold), `ls -l` (cold), rename, unlink. */
async function files(dir, s, step) {
  const n = s.files;
  const rate = async (job) => n / (await runFsOps([{ dir, n, ...job }]));
  step(`create ${n} empty files`);
  const create = await rate({ op: 'create' });
  await dropCaches();
  step(`stat ${n}`);
  const stat = await rate({ op: 'stat' });
  await dropCaches();
  step(`ls -l of ${n}`);
  const ls_l = await timed('ls', ['-l', dir]);
  step(`rename ${n}`);
  const rename = await rate({ op: 'rename', to: 'g' });
  step(`unlink ${n}`);
  const unlink = await rate({ op: 'unlink', prefix: 'g' });
  return { create, stat, ls_l, rename, unlink };
}

/** A tree of directories (10 at the top, 9 under each, 10 under those): mkdir, then rmdir. */
async function dirs(dir, s, step) {
  const n = treeDirs(dir, s.dirFanout).length;
  step(`mkdir ${n} dirs`);
  const mkdir = n / (await runFsOps([{ op: 'mkdir', dir, fanout: s.dirFanout }]));
  step(`rmdir ${n} dirs`);
  const rmdir = n / (await runFsOps([{ op: 'rmdir', dir, fanout: s.dirFanout }]));
  return { mkdir, rmdir };
}

/**
 * Small files one after the other: create+write+close, read (cold), read again (what the
 * kernel kept of them: a build reading its headers, a script its modules), unlink.
 */
async function small(dir, s, step) {
  const n = s.smallFiles;
  const rate = async (op) => n / (await runFsOps([{ op, dir, n, size: s.smallKiB * 1024 }]));
  step(`write ${n} files of ${s.smallKiB} KiB`);
  const small_write = await rate('write');
  await dropCaches();
  step(`read ${n} files`);
  const small_read = await rate('read');
  step(`read ${n} files again`);
  const small_reread = await rate('read');
  step(`unlink ${n} files`);
  const small_unlink = await rate('unlink');
  return { small_write, small_read, small_reread, small_unlink };
}

/**
 * A real source tree (a tar of /`s.tree`, made once in local scratch space): extract it,
 * walk it three ways cold, copy it back out to local disk cold, remove it cold.
 */
async function tree(dir, s, step, { scratch, tarball }) {
  step(`extract ${s.tree} (${tarball.entries} entries)`);
  const tree_extract = await timed('tar', ['-C', dir, '-xf', tarball.path]);
  const walk = async (label, command, args) => {
    await dropCaches();
    step(label);
    return timed(command, args);
  };
  const tree_ls_lR = await walk('ls -l -R of the tree', 'ls', ['-l', '-R', dir]);
  const tree_find = await walk('find in the tree', 'find', [dir]);
  const tree_du = await walk('du of the tree', 'du', ['-s', dir]);
  const out = join(scratch, 'copy-out');
  const tree_copy_out = await walk('copy the tree out', 'cp', ['-a', join(dir, 'usr'), out]);
  await timed('rm', ['-rf', out]);
  const tree_rm = await walk('rm -rf of the tree', 'rm', ['-rf', join(dir, 'usr')]);
  return { tree_extract, tree_ls_lR, tree_find, tree_du, tree_copy_out, tree_rm };
}

/** A checkout: `git clone` of this repository into the mount, then `git status` on it cold. */
async function git(dir, s, step) {
  // Root runs the benchmark on a repository someone else may own: say it is trusted.
  const g = ['-c', 'safe.directory=*'];
  step('git clone of this repository');
  const git_clone = await timed('git', [...g, 'clone', '-q', '--no-hardlinks', REPO_ROOT, join(dir, 'checkout')]);
  await dropCaches();
  step('git status, cold');
  const git_status = await timed('git', [...g, '-C', join(dir, 'checkout'), 'status', '--porcelain']);
  return { git_clone, git_status };
}

/** Creates from 8 processes at once, each its own names, all in one directory. */
async function parallel(dir, s, step) {
  const n = Math.floor(s.parallelFiles / 8);
  step(`create ${n * 8} files from 8 processes`);
  const jobs = Array.from({ length: 8 }, (_, i) => ({ op: 'create', dir, n, prefix: `p${i}_` }));
  return { parallel_create: (n * 8) / (await runFsOps(jobs)) };
}

/** Four fio jobs at once, each on its own file: 4 KiB random, 70% reads, O_DIRECT. */
async function mix(dir, s, step) {
  step(`fio mix: 4 jobs x ${s.mixMiB} MiB, ${s.mixSecs} s`);
  const out = await fio(['--name=mix', `--directory=${dir}`, '--numjobs=4', `--size=${s.mixMiB}M`, '--bs=4k', '--rw=randrw', '--rwmixread=70', '--direct=1', '--time_based', `--runtime=${s.mixSecs}`, '--group_reporting']);
  return { fio_mix: iops(out) };
}

/**
 * The groups in the order they run; each gets a fresh directory inside the mount.
 * `warmup: false`: left out of compare.js's warm-up pass, since its input does not shrink
 * at the quick sizes (the run's one tarball, a clone of this repo) and the other groups
 * warm the same code.
 */
export const GROUPS = [
  { name: 'sequential', run: sequential },
  { name: 'random', run: random },
  { name: 'files', run: files },
  { name: 'dirs', run: dirs },
  { name: 'small', run: small },
  { name: 'tree', run: tree, warmup: false },
  { name: 'git', run: git, warmup: false },
  { name: 'parallel', run: parallel },
  { name: 'mix', run: mix },
];

/** The tree's tarball, made once per run in local scratch space (not timed). */
export async function makeTarball(scratch, s) {
  const path = join(scratch, 'tree.tar');
  await timed('tar', ['-C', '/', '-cf', path, s.tree]);
  const { stdout } = await execFileP('tar', ['-tf', path], { maxBuffer: 64 << 20 });
  return { path, entries: stdout.split('\n').filter(Boolean).length };
}

/** Runs one group in `mnt/.compare-NAME-<pid>` and removes that directory afterwards. */
export async function runGroup(group, mnt, sizes, step, context) {
  const dir = join(mnt, `.compare-${group.name}-${process.pid}`);
  mkdirSync(dir);
  try {
    return await group.run(dir, sizes, step, context);
  } finally {
    await timed('rm', ['-rf', dir]).catch(() => {});
  }
}

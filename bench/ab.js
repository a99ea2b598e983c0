// A/B of two builds of tsmfs on one machine, alternated: each tree (a checkout with
// `npm run build` done, its own bench/lib) starts its cluster (master, 3 chunkservers,
// goal 2, one mount) through its own launcher, both run side by side, and each round runs
// the same metadata loop on one and then the other (the order flips every round), so that
// the machine's drift (steal, other tenants: ±30 % within minutes on the shared VMs) hits
// both alike. Prints, per figure, each side's median and the median and range of the
// per-round ratios A/B: the rate (operations/s), and the CPU time per operation (user +
// system, µs, from /proc) of the master, the mount, the chunkservers and the process
// making the system calls (whose work is the same on both sides: its figure moves with
// the machine, not with the build). In an A/A run of creates on the 2-vCPU VM the side
// started first was 9 % slower (median of 10 rounds): run each comparison twice, --a and
// --b swapped.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { median } from './lib/compare-table.js';

const positive = (v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
};
const OPS = ['create', 'pcreate', 'mkdir', 'write'];
const opts = new Command('bench-ab')
  .description('the same metadata loop on two builds (checkouts), alternated round by round')
  .requiredOption('--a <dir>', 'tree A (a built checkout)')
  .requiredOption('--b <dir>', 'tree B (a built checkout)')
  .option('--op <op>', `create (open O_CREAT+close), pcreate (the same from 8 processes), mkdir (a tree, then rmdir unmeasured), write (4 KiB files): ${OPS.join(', ')}`, 'create')
  .option('--files <n>', 'operations per round and side', positive, 1000)
  .option('--rounds <n>', 'rounds (each runs A and B once)', positive, 16)
  .option('--warm <n>', 'unmeasured operations on each side first', positive, 4000)
  .option('--save-mode <m>', 'CHANGELOG_SAVE_MODE of both masters', '1')
  .parse()
  .opts();
if (!OPS.includes(opts.op)) {
  process.stderr.write(`bench ab: --op must be one of ${OPS.join(', ')}\n`);
  process.exit(2);
}

const progress = (msg) => process.stderr.write(`[ab] ${msg}\n`);

/** Starts `root`'s cluster and mount; `run(n)` runs one round of the loop there. */
async function side(name, root) {
  const { startDataCluster, mountCluster, stopCluster } = await import(join(root, 'bench/lib/cluster.js'));
  const { cpuSeconds } = await import(join(root, 'bench/lib/daemons.js'));
  const { runFsOps, runFsOpsMeasured } = await import(join(root, 'bench/lib/fs-ops.js'));
  const dir = mkdtempSync(join(tmpdir(), `tsmfs-ab-${name}-`));
  progress(`starting ${name} (${root}) in ${dir}`);
  const cluster = await startDataCluster(dir, { masterConfig: { CHANGELOG_SAVE_MODE: opts.saveMode } });
  // Stopped, then removed once stopped (a side's disks hold up to a few hundred MiB of chunks).
  const s = { stop: () => stopCluster(cluster).then(() => rmSync(dir, { recursive: true, force: true })) };
  started.push(s); // stopped in the end even if the mount fails to come up
  const mnt = await mountCluster(cluster, join(dir, 'mnt'), { goal: 2 });
  const pids = { master: [cluster.master.child.pid], mount: [cluster.mounts[0].pid], cs: cluster.chunkservers.map((c) => c.child.pid) };
  const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, ps]) => [k, ps.reduce((t, p) => t + cpuSeconds(p), 0)]));
  let round = 0;
  s.run = async (n) => {
    const sub = join(mnt, `r${round++}`);
    mkdirSync(sub);
    const fanout = [10, Math.ceil(n / 10)];
    const jobs =
      opts.op === 'pcreate'
        ? Array.from({ length: 8 }, (_, i) => ({ op: 'create', dir: sub, n: Math.ceil(n / 8), prefix: `p${i}_` }))
        : [opts.op === 'mkdir' ? { op: 'mkdir', dir: sub, fanout } : { op: opts.op, dir: sub, n, prefix: 'f', size: 4096 }];
    const c0 = cpu();
    const r = await runFsOpsMeasured(jobs);
    const c1 = cpu();
    if (opts.op === 'mkdir') await runFsOps([{ op: 'rmdir', dir: sub, fanout }]);
    const per = (s) => (s * 1e6) / n;
    return { rate: n / r.seconds, master: per(c1.master - c0.master), mount: per(c1.mount - c0.mount), chunkservers: per(c1.cs - c0.cs), caller: per(r.cpuSeconds) };
  };
  return s;
}

const sides = {};
const started = [];
try {
  sides.A = await side('A', resolve(opts.a));
  sides.B = await side('B', resolve(opts.b));
  for (const k of ['A', 'B']) {
    progress(`warming ${k}: ${opts.warm} unmeasured`);
    await sides[k].run(opts.warm);
  }
  const res = { A: [], B: [] };
  for (let i = 0; i < opts.rounds; i++) {
    for (const k of i % 2 ? ['B', 'A'] : ['A', 'B']) res[k].push(await sides[k].run(opts.files));
    progress(`round ${i + 1}/${opts.rounds}: A ${Math.round(res.A.at(-1).rate)}/s, B ${Math.round(res.B.at(-1).rate)}/s`);
  }
  console.log(`${opts.op}, ${opts.files} per round, ${opts.rounds} rounds; A = ${resolve(opts.a)}, B = ${resolve(opts.b)}`);
  console.log('figure (per op)   median A  median B  A/B: median of rounds  range');
  for (const f of ['rate', 'master', 'mount', 'chunkservers', 'caller']) {
    const ratios = res.A.map((a, i) => a[f] / res.B[i][f]).filter(Number.isFinite);
    const label = f === 'rate' ? 'rate, /s' : `${f} CPU, µs`;
    const range = ratios.length ? `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}` : '-';
    const fixed = (v, digits) => (v === null ? '-' : v.toFixed(digits));
    console.log(`${label.padEnd(18)}${fixed(median(res.A.map((r) => r[f])), 0).padStart(8)}  ${fixed(median(res.B.map((r) => r[f])), 0).padStart(8)}  ${fixed(median(ratios), 3).padStart(21)}  ${range}`);
  }
} finally {
  for (const s of started) await s.stop().catch((err) => progress(`stopping: ${err.message}`));
}

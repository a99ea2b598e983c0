#!/usr/bin/env node
// `npm run bench -- compare`: tsmfs side by side with MooseFS 3.0 (Debian's packages),
// both started here on loopback (3 chunkservers, goal 2) and both measured through their
// mount with the same workloads (bench/lib/workloads.js), alternating group by group
// (tsmfs, MooseFS, tsmfs, MooseFS, …) so that a change in the machine's load falls on
// both. Prints one table (ratio > 1: tsmfs ahead) on stdout, progress on stderr, writes
// the results as JSON under bench/results/ and, for a full run, appends the table to
// docs/benchmarks.md. Everything it starts it stops, by pid, also when it fails or is
// interrupted.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { buildRows, markdownRun, textTable } from './lib/compare-table.js';
import { mountCluster, startDataCluster, stopCluster } from './lib/cluster.js';
import { REPO_ROOT, stopAllStarted, unmount } from './lib/daemons.js';
import { ensureMooseFS, moosefsVersion, startMooseFS } from './lib/moosefs.js';
import { GROUPS, SIZES, canDropCaches, makeTarball, runGroup } from './lib/workloads.js';

const RUNS_MARKER = '<!-- bench/compare.js inserts each full run\'s table above this line -->';

const keyValue = (text, all) => {
  const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(text);
  if (!m) throw new InvalidArgumentError('expected KEY=VALUE, e.g. CHANGELOG_SAVE_MODE=0');
  return { ...all, [m[1]]: m[2] };
};
const saveModes = (text) => {
  const modes = text.split(',');
  if (!modes.every((m) => /^[012]$/.test(m)) || new Set(modes).size !== modes.length) throw new InvalidArgumentError('expected distinct modes 0, 1 or 2, e.g. 1,2');
  return modes;
};
const opts = new Command('bench-compare')
  .description('tsmfs against MooseFS 3.0 through the mount, same workloads, same machine, alternating')
  .option('--quick', 'small sizes and 1 round, for development (nothing is written to docs/)')
  .option('--rounds <n>', 'alternations of tsmfs and MooseFS; medians are reported (default 3, --quick 1)')
  .option('--only <groups>', `comma-separated workload groups to run (${GROUPS.map((g) => g.name).join(', ')})`)
  .option('--tsmfs-config <KEY=VALUE>', 'a master config key for tsmfs (repeatable); default: the master\'s own defaults', keyValue)
  .option('--save-modes <modes>', 'run one tsmfs cluster per CHANGELOG_SAVE_MODE listed (e.g. 1,2), side by side with MooseFS', saveModes)
  .option('--moosefs-config <KEY=VALUE>', 'a key for mfsmaster.cfg (repeatable, e.g. CHANGELOG_SAVE_MODE=2 or NICE_LEVEL=0); default: MooseFS\'s defaults', keyValue)
  .option('--results <dir>', 'where the JSON results go', join(REPO_ROOT, 'bench/results'))
  .option('--no-record', 'do not append a full run to docs/benchmarks.md')
  .option('--no-warmup', 'measure from a cold start: no unmeasured pass of the quick workloads first')
  .addHelpText('after', '\nRuns as root: it installs MooseFS (moosefs-master, -chunkserver, -client, -cli) if missing and drops the\nkernel caches before cold steps. Figures, workloads and the JSON format: docs/benchmarks.md, "Side by side with MooseFS".')
  .parse()
  .opts();
opts.tsmfsConfig ??= {};
opts.moosefsConfig ??= {};
const mode = opts.quick ? 'quick' : 'full';
const sizes = SIZES[mode];
const rounds = Number(opts.rounds ?? (opts.quick ? 1 : 3));
const groups = opts.only ? opts.only.split(',').map((n) => GROUPS.find((g) => g.name === n) ?? fail(`no workload group ${n}`)) : GROUPS;
/**
 * Groups run once at the quick sizes, unmeasured, on every target before the first round.
 * Both systems' daemons are long-running processes; a new tsmfs daemon runs its code in
 * V8's interpreter until the JIT has compiled it, and its first ~4,000 metadata
 * operations go at about half the warm rate (docs/benchmarks.md, "Warm daemons"). MooseFS
 * gets the same pass, of the groups GROUPS marks for it (workloads.js).
 */
const warmGroups = opts.warmup ? groups.filter((g) => g.warmup !== false) : [];
const started = Date.now();
const clock = (ms) => `${Math.floor(ms / 60_000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}`;
const progress = (msg) => process.stderr.write(`[compare ${clock(Date.now() - started)}] ${msg}\n`);

function fail(message) {
  process.stderr.write(`bench compare: ${message}\n`);
  process.exit(2);
}

/**
 * The tsmfs clusters measured, each with its master keys: one at --tsmfs-config (the
 * master's defaults unless given), or one per --save-modes mode.
 */
const tsmfsConfigs = opts.saveModes
  ? Object.fromEntries(opts.saveModes.map((m) => [`tsmfs-mode${m}`, { ...opts.tsmfsConfig, CHANGELOG_SAVE_MODE: m }]))
  : { tsmfs: opts.tsmfsConfig };
/** Every target in the order each group runs on them: the tsmfs clusters, then MooseFS. */
const order = [...Object.keys(tsmfsConfigs), 'moosefs'];
/** Figures of one (round, target) and the errors of groups that failed there. */
const runs = Object.fromEntries(order.map((name) => [name, []]));
const errors = [];
const base = mkdtempSync(join(tmpdir(), 'tsmfs-compare-'));
const targets = {};

let tearingDown;
/** Set by a signal: the run stops at the next group and records nothing. */
let interrupted = false;
function teardown() {
  tearingDown ??= (async () => {
    for (const t of Object.values(targets)) await t.stop().catch((err) => progress(`stopping ${t.name}: ${err.message}`));
    await stopAllStarted();
    for (const name of order) await unmount(join(base, name, 'mnt'));
    rmSync(base, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  })();
  return tearingDown;
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    interrupted = true;
    progress(`${signal}: stopping everything this run started; nothing is recorded`);
    teardown().finally(() => process.exit(130));
  });
}

async function startTargets() {
  for (const name of order) mkdirSync(join(base, name));
  for (const [name, config] of Object.entries(tsmfsConfigs)) {
    progress(`starting ${name} (3 chunkservers, goal 2) in ${base}/${name}`);
    const cluster = await startDataCluster(join(base, name), { masterConfig: config });
    targets[name] = { name, stop: () => stopCluster(cluster) };
    targets[name].mnt = await mountCluster(cluster, join(base, name, 'mnt'), { goal: 2 });
  }
  progress(`starting MooseFS (3 chunkservers, goal 2) in ${base}/moosefs`);
  const moosefs = await startMooseFS(join(base, 'moosefs'), { masterConfig: opts.moosefsConfig });
  targets.moosefs = { name: 'moosefs', stop: moosefs.stop, mnt: moosefs.mnt };
}

async function warmUp(context) {
  for (const name of order) {
    for (const group of warmGroups) {
      if (interrupted) throw new Error('interrupted');
      const step = (what) => progress(`[warm-up] ${name.padEnd(11)} ${what}`);
      // Unmeasured: a group that fails here fails again, and is recorded, in the rounds.
      await runGroup(group, targets[name].mnt, SIZES.quick, step, context).catch((err) => progress(`[warm-up] ${name} ${group.name} failed: ${err.message.split('\n')[0]}`));
    }
  }
}

async function runRounds(context) {
  const total = rounds * groups.length * order.length;
  let done = 0;
  const t0 = Date.now();
  for (let round = 0; round < rounds; round++) {
    for (const name of order) runs[name][round] = {};
    for (const group of groups) {
      for (const name of order) {
        if (interrupted) throw new Error('interrupted');
        const left = done ? `, ~${clock(((Date.now() - t0) / done) * (total - done))} left` : '';
        const step = (what) => progress(`[${done + 1}/${total}${left}] round ${round + 1} ${name.padEnd(11)} ${what}`);
        try {
          Object.assign(runs[name][round], await runGroup(group, targets[name].mnt, sizes, step, context));
        } catch (err) {
          progress(`${name} ${group.name} failed: ${err.message.split('\n')[0].slice(0, 300)}`);
          errors.push({ round: round + 1, target: name, group: group.name, error: err.message });
        }
        done++;
      }
    }
  }
}

const commit = () => {
  const git = (...args) => execFileSync('git', ['-c', 'safe.directory=*', '-C', REPO_ROOT, ...args], { encoding: 'utf8' }).trim();
  return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? '+changes' : '');
};

function record(result) {
  mkdirSync(opts.results, { recursive: true });
  const file = join(opts.results, `compare-${result.date.replace(/[:.]/g, '-')}-${result.commit}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  progress(`results: ${file}`);
  if (mode === 'full' && opts.record) {
    const doc = join(REPO_ROOT, 'docs/benchmarks.md');
    const text = readFileSync(doc, 'utf8');
    const at = text.indexOf(RUNS_MARKER);
    // Runs go at the end of the compare section, oldest first, whatever follows it.
    writeFileSync(doc, at === -1 ? `${text}\n${markdownRun(result)}` : `${text.slice(0, at)}${markdownRun(result)}\n${text.slice(at)}`);
    progress('table added to docs/benchmarks.md');
  }
}

try {
  if (process.getuid() !== 0) progress('not root: MooseFS must be installed already and "cold" steps stay warm (caches cannot be dropped)');
  await ensureMooseFS(progress);
  const load = { start: loadavg() };
  await startTargets();
  const scratch = join(base, 'scratch');
  mkdirSync(scratch);
  const tarball = await makeTarball(scratch, sizes);
  progress(`${mode} run: ${rounds} round(s) of ${groups.map((g) => g.name).join(', ')}; load average ${load.start.map((l) => l.toFixed(2)).join(' ')}`);
  if (warmGroups.length) await warmUp({ scratch, tarball });
  await runRounds({ scratch, tarball });
  if (interrupted) throw new Error('interrupted');
  load.end = loadavg();
  const result = {
    date: new Date().toISOString(),
    commit: commit(),
    mode,
    rounds,
    warmup: warmGroups.length ? { groups: warmGroups.map((g) => g.name), sizes: 'quick' } : null,
    sizes: { ...sizes, treeEntries: tarball.entries },
    load,
    machine: { cpus: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim() },
    cachesDropped: canDropCaches(),
    moosefsVersion: await moosefsVersion(),
    command: `npm run bench -- compare ${process.argv.slice(2).join(' ')}`.trim(),
    tsmfsConfigs,
    moosefsConfig: opts.moosefsConfig,
    durationS: Math.round((Date.now() - started) / 1000),
    rows: buildRows(runs),
    errors,
  };
  record(result);
  console.log(textTable(result.rows));
  progress(`done in ${clock(Date.now() - started)}${errors.length ? `; ${errors.length} group(s) failed (see "errors" in the JSON)` : ''}`);
  process.exitCode = errors.length ? 1 : 0;
} catch (err) {
  progress(`failed: ${err.message}`);
  process.exitCode = 1;
} finally {
  await teardown();
}

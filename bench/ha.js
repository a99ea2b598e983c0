#!/usr/bin/env node
// HA election takeover (issue 12, docs/ha.md): a real etcd (Debian's etcd-server) and
// three masters on loopback; each round SIGKILLs (or SIGTERMs: a clean stop, which
// resigns) the leader while a client makes a directory every 10 ms, and measures kill →
// a new leader in /api/status and kill → the client's first acknowledged mkdir after it.
// The killed master is started again (it rejoins as a follower) before the next round.
// Followers are shadow masters (they apply the leader's changelog); failover is
// asynchronous (HA_SYNC_STANDBYS = 0) unless --sync N: at the end the acknowledged mkdirs
// missing from the last leader are counted, and the mkdirs that failed. With --sync N each
// round waits for a full synchronous set before the kill (with an empty one only the
// leader may take over). --ops instead measures metadata ops/s and latency from one client
// (one request at a time) on a lone master and on groups of three at HA_SYNC_STANDBYS 0,
// 1, 2, alternating the setups round by round. Progress on stderr, JSON on stdout.
//
// --drill: the failover drill (issue 12; docs/ha.md, "The failover drill"): three masters
// (HA_SYNC_STANDBYS = --sync), three chunkservers, one FUSE mount running the drill
// workload (files of known content written, renamed, removed;
// packages/launcher/src/failover-drill.ts, the test's code); each round SIGKILLs the
// leader and starts it again 3 s later; the failover time of a round is kill → the first
// acknowledged operation invoked after it; at the end the checker reads everything back
// through the mount.
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { MasterSession } from '@tsmfs/client';
import { DrillWorkload, Etcd, HaGroup, Master, Mount, checkDrill, freePorts, makeTempDir, status as groupStatus, stopEverything } from '@tsmfs/launcher';
import './lib/daemons.js'; // the benchmarks' launcher settings (long ready timeouts)

const opts = new Command('bench-ha')
  .description('Benchmark the HA election: kill the leader, time the takeover')
  .option('--rounds <n>', 'rounds per kill signal', '10')
  .option('--ttl <s>', 'HA_LEASE_TTL', '2')
  .option('--sync <n>', 'HA_SYNC_STANDBYS of the failover rounds', '0')
  .option('--drill', 'the failover drill: a mount\'s workload of known content, SIGKILL rounds, the checker')
  .option('--ops', 'measure metadata ops/s and latency (lone master, HA_SYNC_STANDBYS 0, 1, 2) instead of failovers')
  .option('--ops-seconds <s>', 'seconds per setup per round (--ops)', '8')
  .option('--save-mode <n>', 'CHANGELOG_SAVE_MODE of every master (default: the master\'s, 2)')
  .parse()
  .opts();
const ROUNDS = Number(opts.rounds);
const TTL = Number(opts.ttl);
const SYNC = Number(opts.sync);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'tsmfs-bench-ha-'));
/** The bench's clients come from 127.0.0.1; root stays root. */
const EXPORTS = ['127.0.0.1 / rw,alldirs,maproot=0'];

/** A master of the launcher on free ports: in group `cluster` on `endpoint`, or alone without one. */
async function makeMaster(i, endpoint, { cluster = 'bench', sync = SYNC } = {}) {
  const [matocl, matocs, matoml, http] = await freePorts(4);
  const m = new Master(dir, { matocl, matocs, matoml, http }, {
    name: `m${i}`,
    dataPath: join(dir, `m${i}`),
    exports: EXPORTS,
    config: {
      ...(opts.saveMode !== undefined ? { CHANGELOG_SAVE_MODE: opts.saveMode } : {}),
      // No endpoint: a lone master, as without HA.
      ...(endpoint ? { HA_ETCD_ENDPOINTS: endpoint, HA_CLUSTER_NAME: cluster, HA_LEASE_TTL: TTL, HA_SYNC_STANDBYS: sync } : {}),
    },
  });
  m.i = i;
  return m;
}

async function status(m) {
  try {
    return await groupStatus(m);
  } catch {
    return undefined;
  }
}

async function leaderOf(masters, notEpoch = 0) {
  for (const t0 = Date.now(); Date.now() - t0 < 30_000; await sleep(5)) {
    for (const m of masters) {
      const s = await status(m);
      if (s?.role === 'leader' && s.mutable && s.epoch > notEpoch) return { m, s };
    }
  }
  throw new Error('no leader within 30 s');
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

/** With synchronous standbys, the leader's set must be full before a kill: with an empty one only it may take over. */
async function fullSet(m, n = SYNC) {
  for (const t0 = Date.now(); Date.now() - t0 < 60_000; await sleep(20)) {
    const s = await status(m);
    if (n === 0 || s?.sync?.set.length === n) return;
  }
  throw new Error(`leader ${m.i}: no full synchronous set within 60 s`);
}

/**
 * One client, one request at a time, for `ms`: a cycle of mkdir, create, setattr (size),
 * unlink, rmdir. Every reply is a change the master answered (saved, and held by its set).
 */
async function opsFor(session, tag, ms) {
  const lat = [];
  const top = await session.mkdir(1, tag);
  const timed = async (f) => {
    const t0 = performance.now();
    const r = await f();
    lat.push(performance.now() - t0);
    return r;
  };
  const t0 = performance.now();
  for (let i = 0; performance.now() - t0 < ms; i++) {
    await timed(() => session.mkdir(top.inode, `d${i}`));
    const f = await timed(() => session.create(top.inode, `f${i}`, 0o644));
    await timed(() => session.setattr(f.inode, { size: i }));
    await timed(() => session.unlink(top.inode, `f${i}`));
    await timed(() => session.rmdir(top.inode, `d${i}`));
  }
  return { ops: lat.length, seconds: (performance.now() - t0) / 1000, lat };
}

async function benchOps(etcd) {
  const setups = [{ name: 'lone master', masters: [await makeMaster(0, undefined)] }];
  for (const sync of [0, 1, 2]) {
    const masters = [];
    for (let i = 1; i <= 3; i++) masters.push(await makeMaster(`${sync}-${i}`, etcd.endpoint, { cluster: `ops${sync}`, sync }));
    setups.push({ name: `HA_SYNC_STANDBYS ${sync}`, sync, masters });
  }
  for (const s of setups) await Promise.all(s.masters.map((m) => m.start()));
  for (const s of setups) {
    s.session = await MasterSession.open({ masters: s.masters.map((m) => ({ host: '127.0.0.1', port: m.ports.matocl })), hostname: 'bench', mountpoint: '/bench' });
    s.runs = [];
  }
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order round by round, so a load change on the machine is spread over every setup.
    const order = r % 2 === 0 ? setups : [...setups].reverse();
    for (const s of order) {
      if (s.sync) await fullSet((await leaderOf(s.masters)).m, s.sync);
      const run = await opsFor(s.session, `r${r}`, Number(opts.opsSeconds) * 1000);
      s.runs.push(run);
      process.stderr.write(`round ${r + 1} ${s.name}: ${Math.round(run.ops / run.seconds)} ops/s, p50 ${pct(run.lat, 50).toFixed(2)} ms, p99 ${pct(run.lat, 99).toFixed(2)} ms\n`);
    }
  }
  const out = {};
  for (const s of setups) {
    const lat = s.runs.flatMap((x) => x.lat);
    const rates = s.runs.map((x) => x.ops / x.seconds);
    out[s.name] = { opsPerSecond: Math.round(pct(rates, 50)), p50Ms: Number(pct(lat, 50).toFixed(2)), p99Ms: Number(pct(lat, 99).toFixed(2)), ops: lat.length };
    s.session.close();
  }
  console.log(JSON.stringify({ bench: 'ha-ops', saveMode: opts.saveMode ?? 'default (2)', rounds: ROUNDS, secondsPerRound: Number(opts.opsSeconds), load: os.loadavg().map((x) => x.toFixed(1)), ...out }, null, 2));
}

try {
  const etcd = await Etcd.start({ dir: join(dir, 'etcd') });
  if (opts.ops) await benchOps(etcd);
  else if (opts.drill) await drill(etcd);
  else await benchFailover(etcd);
} finally {
  await stopEverything({ signal: 'SIGKILL' });
  rmSync(dir, { recursive: true, force: true });
}

/** The failover drill: the same workload and checker as test/ha-failover-drill.test.ts, ROUNDS rounds. */
async function drill(etcd) {
  const group = await HaGroup.create(etcd, { dir, n: 3, config: { HA_LEASE_TTL: TTL, HA_SYNC_STANDBYS: SYNC } });
  await group.start();
  const masters = group.masters;
  await Promise.all((await group.chunkservers(3)).map((cs) => cs.waitRegistered(60_000)));
  const mount = await Mount.start({ masters: group.addresses, path: makeTempDir('tsmfs-bench-drill-mnt-') });
  const root = join(mount.path, 'drill');
  const workload = new DrillWorkload({ root, workers: 2 });
  await workload.start();
  const waitAcks = async (n) => {
    const target = workload.acknowledged + n;
    for (const t0 = Date.now(); workload.acknowledged < target; await sleep(20)) if (Date.now() - t0 > 60_000) throw new Error('the workload stalled');
  };
  const failoverMs = [];
  for (let r = 0; r < ROUNDS; r++) {
    await waitAcks(10);
    if (SYNC > 0) await fullSet((await leaderOf(masters)).m);
    const { m: leader, s } = await leaderOf(masters);
    const killedAt = performance.now();
    await leader.kill('SIGKILL');
    const next = await leaderOf(masters.filter((m) => m !== leader), s.epoch);
    let acked;
    for (const t0 = Date.now(); (acked = workload.firstAckAfter(killedAt)) === undefined; await sleep(5)) if (Date.now() - t0 > 60_000) throw new Error('no acknowledgement within 60 s of the kill');
    failoverMs.push(acked - killedAt);
    process.stderr.write(`round ${r + 1}: epoch ${s.epoch} → ${next.s.epoch}, kill → first acknowledged operation ${failoverMs.at(-1).toFixed(0)} ms\n`);
    await sleep(Math.max(0, 3000 - (performance.now() - killedAt)));
    await leader.start();
  }
  await waitAcks(10);
  await workload.stop();
  const report = await checkDrill(root, workload.history);
  const counts = Object.fromEntries(['lost', 'misapplied', 'corrupt', 'partial', 'errors'].map((k) => [k, report[k].length]));
  console.log(JSON.stringify({ bench: 'ha-drill', ttlSeconds: TTL, syncStandbys: SYNC, rounds: ROUNDS, load: os.loadavg().map((x) => x.toFixed(1)), failoverMs: failoverMs.map(Math.round), p50: Math.round(pct(failoverMs, 50)), max: Math.round(Math.max(...failoverMs)), acknowledged: report.acknowledged, ...counts, problems: [...report.lost, ...report.misapplied, ...report.corrupt, ...report.partial, ...report.errors].slice(0, 20) }, null, 2));
}

async function benchFailover(etcd) {
  const masters = [];
  for (let i = 1; i <= 3; i++) masters.push(await makeMaster(i, etcd.endpoint));
  await Promise.all(masters.map((m) => m.start()));
  const session = await MasterSession.open({ masters: masters.map((m) => ({ host: '127.0.0.1', port: m.ports.matocl })), hostname: 'bench', mountpoint: '/bench', reconnectTimeoutMs: 60_000 });
  const results = {};
  let n = 0;
  const ackedNames = [];
  let failed = 0;
  for (const signal of ['SIGKILL', 'SIGTERM']) {
    const elected = [];
    const acked = [];
    for (let r = 0; r < ROUNDS; r++) {
      const { m: leader, s } = await leaderOf(masters);
      await fullSet(leader);
      await session.mkdir(1, `warm-${n++}`);
      let firstAck;
      let running = true;
      let killedAt = 0;
      const writer = (async () => {
        while (running) {
          const sentAt = performance.now();
          const name = `d-${n++}`;
          try {
            await session.mkdir(1, name);
            ackedNames.push(name);
          } catch (err) {
            // EEXIST here is a re-sent create that had been applied: the request table is not built yet.
            failed++;
            process.stderr.write(`mkdir ${name} failed: ${err.message}\n`);
            await sleep(10);
            continue;
          }
          // The first change asked for after the kill: one sent before may be the old leader's.
          if (killedAt && sentAt >= killedAt && firstAck === undefined) firstAck = performance.now() - killedAt;
          await sleep(10);
        }
      })();
      await sleep(100);
      killedAt = performance.now();
      const exited = leader.kill(signal);
      const next = await leaderOf(masters.filter((m) => m !== leader), s.epoch);
      elected.push(performance.now() - killedAt);
      while (firstAck === undefined) await sleep(5);
      acked.push(firstAck);
      running = false;
      await writer;
      await exited;
      process.stderr.write(`${signal} round ${r + 1}: epoch ${s.epoch} → ${next.s.epoch}, new leader in ${elected.at(-1).toFixed(0)} ms, first acknowledged mkdir ${firstAck.toFixed(0)} ms\n`);
      await leader.start();
    }
    results[signal] = {
      newLeaderMs: { p50: Math.round(pct(elected, 50)), max: Math.round(Math.max(...elected)) },
      firstAckMs: { p50: Math.round(pct(acked, 50)), max: Math.round(Math.max(...acked)) },
    };
  }
  await leaderOf(masters);
  const present = new Set((await session.readdir(1)).map((e) => e.name));
  const lost = ackedNames.filter((name) => !present.has(name));
  session.close();
  console.log(JSON.stringify({ bench: 'ha', ttlSeconds: TTL, syncStandbys: SYNC, rounds: ROUNDS, ...results, acknowledgedMkdirs: ackedNames.length, lost: lost.length, lostNames: lost.slice(0, 20), failedMkdirs: failed, load: os.loadavg().map((x) => x.toFixed(1)) }, null, 2));
}

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
// leader may take over). --ops instead measures metadata ops/s and latency from --clients
// clients (each one request at a time) on a lone master and on groups of three at HA_SYNC_STANDBYS 0,
// 1, 2, alternating the setups round by round. Progress on stderr, JSON on stdout.
//
// --drill: the failover drill (issue 12; docs/ha.md, "The failover drill"): three masters
// (HA_SYNC_STANDBYS = --sync), three chunkservers, one FUSE mount running the drill
// workload (files of known content written, renamed, removed;
// packages/launcher/src/failover-drill.ts, the test's code); each round SIGKILLs the
// leader and starts it again 3 s later; the failover time of a round is kill → the first
// acknowledged operation invoked after it; at the end the checker reads everything back
// through the mount.
//
// --takeover: takeover with a large file system (issue 12's figure): a metadata dump of
// --inodes inodes of which --chunks files hold one chunk each is built in-process (the
// master's own Namespace and dump codec) and given to the first master; the chunk files
// (headers) are made on three chunkservers' disks. The other masters start empty and take
// the leader's dump; the chunkservers report every chunk to every master. Then, per
// round, SIGKILL the leader and time kill → the first acknowledged mkdir and kill → the
// first successful read of a chunk (a file never read before), both sent right after the
// kill by a client holding a session; the killed master is started again (it rejoins).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { MasterSession } from '@tsmfs/client';
import { ChunkFile, chunkFileName, chunkFolder } from '@tsmfs/chunkserver';
import { Namespace, createEmptyMetadata, encodeDump } from '@tsmfs/master';
import { MASTER_FILES } from '@tsmfs/metastore';
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
  .option('--clients <n>', 'clients at once, each its own session, one request at a time (--ops)', '1')
  .option('--save-mode <n>', 'CHANGELOG_SAVE_MODE of every master (default: the master\'s, 2)')
  .option('--takeover', 'takeover with a large file system: --inodes inodes, --chunks chunks')
  .option('--inodes <n>', 'inodes in the file system (--takeover)', '100000')
  .option('--chunks <n>', 'files holding one chunk each, among the inodes (--takeover)', '100000')
  .option('--verbose', 'after each round, the HA log lines of every master since the kill (--takeover)')
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
  const clients = Number(opts.clients);
  for (const s of setups) {
    s.sessions = [];
    for (let c = 0; c < clients; c++) s.sessions.push(await MasterSession.open({ masters: s.masters.map((m) => ({ host: '127.0.0.1', port: m.ports.matocl })), hostname: `bench${c}`, mountpoint: '/bench' }));
    s.runs = [];
  }
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate the order round by round, so a load change on the machine is spread over every setup.
    const order = r % 2 === 0 ? setups : [...setups].reverse();
    for (const s of order) {
      if (s.sync) await fullSet((await leaderOf(s.masters)).m, s.sync);
      // Every client at once, each in its own directory; the rate is all of theirs together.
      const parts = await Promise.all(s.sessions.map((session, c) => opsFor(session, `r${r}c${c}`, Number(opts.opsSeconds) * 1000)));
      const run = { ops: parts.reduce((n, p) => n + p.ops, 0), seconds: Math.max(...parts.map((p) => p.seconds)), lat: parts.flatMap((p) => p.lat) };
      s.runs.push(run);
      process.stderr.write(`round ${r + 1} ${s.name}: ${Math.round(run.ops / run.seconds)} ops/s, p50 ${pct(run.lat, 50).toFixed(2)} ms, p99 ${pct(run.lat, 99).toFixed(2)} ms\n`);
    }
  }
  const out = {};
  for (const s of setups) {
    const lat = s.runs.flatMap((x) => x.lat);
    const rates = s.runs.map((x) => x.ops / x.seconds);
    out[s.name] = { opsPerSecond: Math.round(pct(rates, 50)), p50Ms: Number(pct(lat, 50).toFixed(2)), p99Ms: Number(pct(lat, 99).toFixed(2)), ops: lat.length };
    for (const session of s.sessions) session.close();
  }
  console.log(JSON.stringify({ bench: 'ha-ops', clients, saveMode: opts.saveMode ?? 'default (2)', rounds: ROUNDS, secondsPerRound: Number(opts.opsSeconds), load: os.loadavg().map((x) => x.toFixed(1)), ...out }, null, 2));
}

try {
  const etcd = await Etcd.start({ dir: join(dir, 'etcd') });
  if (opts.ops) await benchOps(etcd);
  else if (opts.drill) await drill(etcd);
  else if (opts.takeover) await bigTakeover(etcd);
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

/**
 * The file system of --takeover, made in-process with the master's own code: `inodes`
 * inodes in directories of 1000, the first `chunks` files holding one chunk each (4 KiB
 * long). Returns the dump's bytes and every chunk (id, version, a file holding it).
 */
function bigFileSystem(inodes, chunks) {
  let t = Math.floor(Date.now() / 1000) - 3600;
  const clock = () => ({ sec: t, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
  const cred = { uid: 0, gid: 0, groups: [0] };
  const list = [];
  let dir = 1;
  for (let i = 0, made = 1; made < inodes; i++) {
    if (i % 1000 === 0) {
      dir = ns.mkdir({ cred, parent: 1, name: `d${i / 1000}`, mode: 0o755, umask: 0 }).attr.inode;
      made++;
    }
    const inode = ns.mknod({ cred, parent: dir, name: `f${i}`, type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    made++;
    if (list.length < chunks) {
      const g = ns.writeChunk({ cred, inode, index: 0 });
      ns.writeChunkEnd({ inode, index: 0, chunkId: g.chunkId, length: 4096, ok: true });
      list.push({ chunkId: g.chunkId, version: ns.md.chunks.version[g.chunkId], inode });
    }
  }
  return { dump: encodeDump(ns.md), chunks: list, version: ns.md.version };
}

async function bigTakeover(etcd) {
  const inodes = Number(opts.inodes);
  const nChunks = Number(opts.chunks);
  const t0 = performance.now();
  const fs = bigFileSystem(inodes, nChunks);
  process.stderr.write(`file system: ${inodes} inodes, ${fs.chunks.length} chunks, dump ${(fs.dump.length / 1e6).toFixed(1)} MB, made in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  // No replication while we measure: every chunk has one copy, on purpose.
  const group = await HaGroup.create(etcd, { dir, n: 3, config: { HA_LEASE_TTL: TTL, HA_SYNC_STANDBYS: SYNC, REPLICATIONS_DELAY_INIT: 3600, CHUNKS_LOOP_MIN_TIME: 3600 } });
  const masters = group.masters;
  mkdirSync(masters[0].dataPath, { recursive: true });
  writeFileSync(join(masters[0].dataPath, MASTER_FILES.dump), fs.dump);
  const css = await group.makeChunkservers(3);
  const t1 = performance.now();
  const make = async (k) => {
    const c = fs.chunks[k];
    const disk = css[k % css.length].disks[0];
    mkdirSync(join(disk, chunkFolder(c.chunkId)), { recursive: true });
    await (await ChunkFile.create(join(disk, chunkFolder(c.chunkId), chunkFileName(c.chunkId, c.version)), c.chunkId, c.version)).close();
  };
  for (let k = 0; k < fs.chunks.length; k += 64) await Promise.all(Array.from({ length: Math.min(64, fs.chunks.length - k) }, (_, j) => make(k + j)));
  process.stderr.write(`chunk files made in ${((performance.now() - t1) / 1000).toFixed(1)} s\n`);
  // The first master leads with the file system; the others take its dump as they join.
  await masters[0].start();
  await leaderOf([masters[0]]);
  await Promise.all(masters.slice(1).map((m) => m.start()));
  await caughtUpAll(masters[0], masters.slice(1));
  const t2 = performance.now();
  await Promise.all(css.map((cs) => cs.start({ waitRegistered: false })));
  await Promise.all(css.flatMap((cs) => masters.map((m) => cs.waitRegisteredWith(`${m.host}:${m.ports.matocs}`, 600_000))));
  process.stderr.write(`3 chunkservers registered with 3 masters, every chunk reported, in ${((performance.now() - t2) / 1000).toFixed(1)} s\n`);
  const addresses = group.addresses;
  const writer = await MasterSession.open({ masters: addresses, hostname: 'bench-w', mountpoint: '/w', reconnectTimeoutMs: 120_000 });
  const reader = await MasterSession.open({ masters: addresses, hostname: 'bench-r', mountpoint: '/r', reconnectTimeoutMs: 120_000 });
  const acked = [];
  const read = [];
  const elected = [];
  let next = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const { m: leader, s } = await leaderOf(masters);
    if (SYNC > 0) await fullSet(leader);
    // A file no one has read: its chunk's location comes from the master after the kill.
    const target = fs.chunks[Math.floor(Math.random() * fs.chunks.length)];
    const handle = await reader.openFile(target.inode, 0);
    await writer.mkdir(1, `warm${r}`);
    const killedAt = performance.now();
    const wallKilled = Date.now();
    const exited = leader.kill('SIGKILL');
    const mkdir = writer.mkdir(1, `r${r}-${next++}`).then(() => performance.now() - killedAt);
    const data = handle.read(0, 4096).then((b) => {
      if (b.length !== 4096 || b.some((x) => x !== 0)) throw new Error(`read ${b.length} bytes, not 4096 zeros`);
      return performance.now() - killedAt;
    });
    const nl = await leaderOf(masters.filter((m) => m !== leader), s.epoch);
    elected.push(performance.now() - killedAt);
    acked.push(await mkdir);
    read.push(await data);
    await handle.close();
    await exited;
    if (opts.verbose) {
      for (const m of masters) {
        for (const l of m.logs().filter((l) => l.time >= wallKilled - 20 && ['election', 'shadow', 'sync-standbys', undefined].includes(l.component))) {
          process.stderr.write(`  ${m.name} +${l.time - wallKilled} ms ${l.component ?? ''}: ${l.msg} ${l.err ?? l.why ?? ''}${l.ms === undefined ? '' : ` (${l.ms} ms)`}\n`);
        }
      }
    }
    process.stderr.write(`round ${r + 1}: epoch ${s.epoch} → ${nl.s.epoch}: new leader ${elected.at(-1).toFixed(0)} ms, first acknowledged mkdir ${acked.at(-1).toFixed(0)} ms, first read ${read.at(-1).toFixed(0)} ms\n`);
    await leader.start();
    await caughtUpAll(nl.m, masters.filter((m) => m !== nl.m));
    await Promise.all(css.map((cs) => cs.waitRegisteredWith(`${leader.host}:${leader.ports.matocs}`, 600_000)));
  }
  writer.close();
  reader.close();
  const fig = (xs) => ({ p50: Math.round(pct(xs, 50)), max: Math.round(Math.max(...xs)) });
  console.log(JSON.stringify({ bench: 'ha-takeover', inodes, chunks: fs.chunks.length, ttlSeconds: TTL, syncStandbys: SYNC, rounds: ROUNDS, newLeaderMs: fig(elected), firstAckMs: fig(acked), firstReadMs: fig(read), load: os.loadavg().map((x) => x.toFixed(1)) }, null, 2));
}

/** `others` at `leader`'s version (a master that joined takes its dump first: up to minutes with a large one). */
async function caughtUpAll(leader, others) {
  for (const t0 = Date.now(); Date.now() - t0 < 600_000; await sleep(100)) {
    const v = (await status(leader))?.metadataVersion;
    const all = await Promise.all(others.map((m) => status(m)));
    if (v !== undefined && all.every((x) => x?.metadataVersion === v && x.follower?.lag === 0)) return;
  }
  throw new Error('followers not caught up in 10 min');
}

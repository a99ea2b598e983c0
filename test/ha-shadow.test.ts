/**
 * Shadow masters (docs/ha.md): followers of an HA group apply the leader's changelog in
 * memory with the live apply code and keep it in their own DATA_PATH, so a SIGKILLed
 * leader's successor serves every acknowledged operation at once; a follower restarted
 * mid-stream resumes from its own files; one that fell behind the leader's retained
 * changelog catches up through a dump. Real etcd, real master and chunkserver processes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { O_RDWR } from '@tsmfs/client';
import { changelogVersionsIn } from '@tsmfs/launcher';
import { MASTER_FILES } from '@tsmfs/metastore';
import { canonicalState, decodeDump } from '@tsmfs/master';
import { describe, expect, it } from 'vitest';
import { Chunkserver, type Master, openSession } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';
import { HaGroup, caughtUp, metrics, status } from './fixture/ha-group.js';
import { until } from './fixture/poll.js';

type Session = Awaited<ReturnType<typeof openSession>>;

interface Written {
  path: string;
  inode: number;
  size: number;
  sha: string;
  chunks: { chunkId: number; version: number }[];
}

function registeredWith(cs: Chunkserver, m: Master): boolean {
  return cs.logs().some((l) => l.msg === 'registered with the master' && l.master === `127.0.0.1:${m.ports.matocs}`);
}

/** Directories and files with known content, each file closed (its data acknowledged) before the next. */
async function writeTree(s: Session, tag: string, dirs: number, filesPerDir: number): Promise<Written[]> {
  const out: Written[] = [];
  const top = await s.mkdir(s.root, tag);
  for (let d = 0; d < dirs; d++) {
    const dir = await s.mkdir(top.inode, `d${d}`);
    for (let f = 0; f < filesPerDir; f++) {
      // Sizes across a block edge and a few MiB, so files span blocks and chunks of several sizes.
      const size = [0, 1, 65_535, 65_537, 300_000, 2 * 1024 * 1024 + 17][(d + f) % 6]!;
      const data = randomBytes(size);
      const attr = await s.create(dir.inode, `f${f}`, 0o644);
      const fh = await s.openFile(attr.inode, O_RDWR);
      if (size > 0) await fh.write(0, data);
      await fh.close();
      const info = await s.fileinfo(attr.inode);
      out.push({
        path: `/${tag}/d${d}/f${f}`,
        inode: attr.inode,
        size,
        sha: createHash('sha256').update(data).digest('hex'),
        chunks: info.chunks.map((c) => ({ chunkId: c.chunkId, version: c.version })),
      });
    }
  }
  return out;
}

/** Every file: name, size, chunk ids and versions, and its bytes read back through `s`. */
async function expectTree(s: Session, files: Written[]): Promise<void> {
  for (const w of files) {
    const attr = await s.resolve(w.path);
    expect(attr.inode, w.path).toBe(w.inode);
    expect(attr.size, w.path).toBe(w.size);
    const info = await s.fileinfo(attr.inode);
    expect(info.chunks.map((c) => ({ chunkId: c.chunkId, version: c.version })), w.path).toEqual(w.chunks);
    const fh = await s.openFile(attr.inode, O_RDWR);
    const data = w.size > 0 ? await fh.read(0, w.size) : Buffer.alloc(0);
    await fh.close();
    expect(createHash('sha256').update(data).digest('hex'), w.path).toBe(w.sha);
  }
}

function stateOf(m: Master): unknown {
  return canonicalState(decodeDump(readFileSync(join(m.dataPath, 'metadata.tsmfs'))));
}

function expectEveryVersionOnce(m: Master, last: number): void {
  const versions = changelogVersionsIn(m.dataPath, MASTER_FILES);
  const problems: string[] = [];
  for (let i = 1; i < versions.length; i++) if (versions[i] !== versions[i - 1]! + 1) problems.push(`${versions[i - 1]} then ${versions[i]}`);
  expect(problems, `gaps or duplicates in ${m.name}'s changelogs`).toEqual([]);
  expect(versions[0]).toBe(1);
  expect(versions[versions.length - 1]).toBe(last);
}

describe('shadow masters', () => {
  it('a SIGKILLed leader\'s successor serves every acknowledged operation: names, sizes, bytes, chunk versions', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 3);
    const first = await group.leader();
    const servers = await group.chunkservers(2);
    await until('chunkservers registered with the leader', async () => (servers.every((cs) => registeredWith(cs, first.leader)) ? true : undefined));
    const session = await openSession({ masters: group.addresses, hostname: 'shadow', mountpoint: '/shadow', reconnectTimeoutMs: 60_000 });
    const files = await writeTree(session, 'tree', 3, 4);
    await session.symlink(session.root, 'link', 'tree/d0/f0');
    await session.rename(session.root, 'link', session.root, 'link2');
    const followers = group.masters.filter((m) => m !== first.leader);
    const version = await caughtUp(first.leader, followers);
    expect(version).toBeGreaterThan(files.length * 2);
    const fs0 = await status(followers[0]!);
    expect(fs0.follower).toEqual({ appliedVersion: version, leaderVersion: version, lag: 0 });
    expect(await metrics(followers[0]!)).toMatch(/^tsmfs_master_follower_lag 0$/m);

    const killedAt = performance.now();
    await first.leader.kill('SIGKILL');
    await session.mkdir(session.root, 'after-failover');
    const takeoverMs = performance.now() - killedAt;
    const second = await group.leader(followers);
    process.stdout.write(`shadow takeover: SIGKILL of the leader → first acknowledged mkdir on the new leader ${takeoverMs.toFixed(0)} ms (lease TTL 2 s)\n`);
    expect(session.info.master).toEqual(second.leader.address);
    // No restore, no dump load: it served the version it had applied, then one more.
    expect(second.leader.logs().some((l) => l.msg === 'leading: serving the metadata applied as a follower' && l.version === version)).toBe(true);
    // Its only dump load was the leader's new file system, when it joined with none of its own.
    expect(second.leader.logs().filter((l) => l.msg === 'namespace reloaded from the leader\'s dump').map((l) => l.version)).toEqual([0]);
    expect((await status(second.leader)).metadataVersion).toBe(version + 1);
    expect(await session.readlink((await session.lookup(session.root, 'link2')).inode)).toBe('tree/d0/f0');

    await until('chunkservers registered with the new leader', async () => (servers.every((cs) => registeredWith(cs, second.leader)) ? true : undefined));
    await expectTree(session, files);

    // The remaining follower follows the new leader, and the old one rejoins as a follower.
    const third = followers.find((m) => m !== second.leader)!;
    await first.leader.start();
    await caughtUp(second.leader, [third, first.leader]);
    session.close();
  });

  it('a follower restarted mid-stream resumes from its own files: no gap, no duplicate, the leader\'s state', async () => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 2);
    const { leader } = await group.leader();
    const follower = group.masters.find((m) => m !== leader)!;
    const session = await openSession({ masters: group.addresses, hostname: 'shadow', mountpoint: '/shadow' });
    let stop = false;
    let made = 0;
    const load = (async () => {
      const d = await session.mkdir(session.root, 'load');
      while (!stop) {
        const f = await session.create(d.inode, `f${made}`, 0o644);
        await session.setattr(f.inode, { size: made * 7 });
        if (made % 3 === 0) await session.unlink(d.inode, `f${made}`);
        made++;
      }
    })();
    const atLeast = (n: number) => until(`${n} files made`, async () => (made >= n ? true : undefined), 60_000, 20);
    await atLeast(50);
    await follower.kill('SIGKILL');
    await atLeast(100);
    await follower.start();
    await atLeast(150);
    await follower.restart(); // a clean restart: shutdown dump, rotation
    await atLeast(200);
    stop = true;
    await load;
    const version = await caughtUp(leader, [follower]);
    // Its one dump load was the leader's new file system, when it first joined: restarts resumed from its files.
    expect(follower.logs().filter((l) => l.msg === 'namespace reloaded from the leader\'s dump').map((l) => l.version)).toEqual([0]);
    // The follower stops first (its shutdown dump at `version`), then the leader (the same version).
    await follower.stop();
    await leader.stop();
    expect(stateOf(follower)).toEqual(stateOf(leader));
    expectEveryVersionOnce(follower, version);
    session.close();
  });

  it.each([
    { newEntries: 10, case: 'the new leader went further (other entries at the same versions)' },
    { newEntries: 2, case: 'the former leader is ahead' },
  ])('a former leader holding entries the new leader never had sets them aside and takes its history: $case', async ({ newEntries }) => {
    const etcd = await Etcd.start();
    const group = await HaGroup.create(etcd, 2);
    const { leader: a } = await group.leader();
    const b = group.masters.find((m) => m !== a)!;
    const session = await openSession({ masters: group.addresses, hostname: 'shadow', mountpoint: '/shadow', reconnectTimeoutMs: 60_000 });
    await session.mkdir(session.root, 'shared');
    const shared = await caughtUp(a, [b]);
    // Applied in memory is not yet in B's files: a SIGKILL before its fsync would take B back one version.
    await until('B\'s changelog holds the shared version', async () => (b.changelogVersion() >= shared ? true : undefined));
    // B is down while A acknowledges 5 entries; then A dies and B leads with others at the
    // same versions (and beyond, or not as far): A's 5 exist nowhere else.
    await b.kill('SIGKILL');
    for (let i = 0; i < 5; i++) await session.mkdir(session.root, `only-on-a-${i}`);
    await a.kill('SIGKILL');
    await b.start();
    await group.leader([b]);
    for (let i = 0; i < newEntries; i++) await session.mkdir(session.root, `on-b-${i}`);
    expect((await status(b)).metadataVersion).toBe(shared + newEntries);
    expect(readFileSync(join(a.dataPath, 'changelog.0.tsmfs'), 'utf8')).toContain('only-on-a-4');
    await a.start();
    const version = await caughtUp(b, [a]);
    expect(version).toBe(shared + newEntries);
    expect(a.logs().some((l) => l.msg === 'our changelog is not the master\'s history: set aside')).toBe(true);
    await b.stop();
    await a.stop();
    expect(stateOf(a)).toEqual(stateOf(b));
    expect(JSON.stringify(stateOf(a))).not.toContain('only-on-a-');
    // Kept for the operator, out of the way of a restart's replay.
    const aside = readdirSync(a.dataPath).filter((n) => n.startsWith('aside-'));
    expect(aside.length).toBe(1);
    expect(readdirSync(join(a.dataPath, aside[0]!)).map((f) => readFileSync(join(a.dataPath, aside[0]!, f), 'utf8')).join('')).toContain('only-on-a-4');
    session.close();
  });

  it('a follower behind the leader\'s retained changelog catches up through a dump', async () => {
    const etcd = await Etcd.start();
    // Nothing kept in memory for followers, one old changelog file: two dumps on the leader
    // put the follower's next version out of reach.
    const group = await HaGroup.create(etcd, 2, { MATOML_LOG_PRESERVE_SECONDS: 0, BACK_LOGS: 1 });
    const { leader } = await group.leader();
    const follower = group.masters.find((m) => m !== leader)!;
    const session = await openSession({ masters: group.addresses, hostname: 'shadow', mountpoint: '/shadow' });
    await session.mkdir(session.root, 'seen');
    await caughtUp(leader, [follower]);
    await follower.kill('SIGKILL');
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) await session.mkdir(session.root, `r${round}-${i}`);
      const dumps = leader.logs().filter((l) => l.msg?.includes('dump')).length;
      leader.process!.child.kill('SIGUSR2'); // a dump and a rotation
      await until('the leader dumped', async () => (leader.logs().filter((l) => l.msg?.includes('dump')).length > dumps ? true : undefined));
    }
    await follower.start();
    const version = await caughtUp(leader, [follower]);
    const reloads = follower.logs().filter((l) => l.msg === 'namespace reloaded from the leader\'s dump').map((l) => l.version as number);
    expect(reloads.length).toBe(2); // the leader's new file system when it joined, then the catch-up
    expect(reloads[1]).toBeGreaterThan(40);
    expect(follower.logs().some((l) => l.msg === 'too far behind the master: starting again from a dump')).toBe(true);
    await session.mkdir(session.root, 'after-catch-up');
    await caughtUp(leader, [follower]);
    await follower.stop();
    await leader.stop();
    expect(stateOf(follower)).toEqual(stateOf(leader));
    expect(version).toBeGreaterThan(60);
    session.close();
  });
});

import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { type Attr, type Reply, type Request, ROOT_INODE, Status, fail } from '@tsmfs/protocol';
import { type Connection, RpcServer, notLeader } from '@tsmfs/rpc';
import { afterEach, describe, expect, it } from 'vitest';
import { MasterSession } from './master-session.js';
import { RELEASE_BATCH } from './session-opens.js';
import { passwordDigest } from './password.js';

/**
 * A tiny master over real TCP: a flat namespace in the root directory, enough to drive
 * the session through refusals, reconnects and re-sends. `drop` makes the next request
 * of a given name close the link, after applying it ('after') or before ('before'):
 * the two ways a master can die under a request.
 */
class FakeMaster {
  server: RpcServer | undefined;
  readonly entries = new Map<string, Attr>();
  readonly registers: Request<'register'>[] = [];
  readonly drop = new Map<string, 'before' | 'after' | 'hang'>();
  /** Requests of these names are refused with this error (an HA follower's), as long as it is set; counted. */
  readonly refuse = new Map<string, { err: Error; times: number }>();
  readonly refused: string[] = [];
  /** Requests in the order they arrived (name, and inode or name where the request has one). */
  readonly seen: string[] = [];
  password: string | undefined;
  private nextInode = 2;
  private nextSession = 100;
  port = 0;

  async start(): Promise<this> {
    const server = new RpcServer({
      host: '127.0.0.1',
      port: this.port,
      role: 'master',
      accept: ['client', 'cli'],
      epoch: () => 7,
      onConnection: (conn, hello) => conn.serve((name, body) => this.handle(conn, hello.nonce, name, body)),
    });
    await server.start();
    this.server = server;
    this.port = server.port;
    return this;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }

  private async handle(conn: Connection, nonce: Buffer, name: string, body: unknown): Promise<unknown> {
    const drop = this.drop.get(name);
    this.drop.delete(name);
    if (drop === 'hang') return new Promise(() => {});
    if (drop === 'before') return this.die(conn);
    const refusal = this.refuse.get(name);
    if (refusal && refusal.times > 0) {
      refusal.times--;
      this.refused.push(name);
      throw refusal.err;
    }
    const reply = this.apply(nonce, name, body);
    if (drop === 'after') return this.die(conn);
    return reply;
  }

  private die(conn: Connection): Promise<never> {
    conn.close();
    return new Promise(() => {});
  }

  private apply(nonce: Buffer, name: string, body: unknown): unknown {
    const b = body as { inode?: number; name?: string; inodes?: number[] };
    if (name === 'releases') this.seen.push(...b.inodes!.map((i) => `release ${i}`));
    else if (name !== 'register') this.seen.push(`${name} ${b.inode ?? b.name ?? ''}`.trim());
    switch (name) {
      case 'release':
      case 'releases':
        return {};
      case 'register':
        return this.register(nonce, body as Request<'register'>);
      case 'mkdir':
      case 'mknod': {
        const b = body as Request<'mkdir'>;
        if (this.entries.has(b.name)) throw fail('EEXIST', `${b.name}: exists`);
        const attr = makeAttr(this.nextInode++, name === 'mkdir' ? 'dir' : 'file', b.mode & ~b.umask);
        this.entries.set(b.name, attr);
        return { attr };
      }
      case 'lookup': {
        const attr = this.entries.get((body as Request<'lookup'>).name);
        if (!attr) throw fail('ENOENT', 'no such entry');
        return { attr };
      }
      case 'getattr':
        return { attr: makeAttr(ROOT_INODE, 'dir', 0o755) };
      case 'unlink': {
        if (!this.entries.delete((body as Request<'unlink'>).name)) throw fail('ENOENT', 'no such entry');
        return {};
      }
      default:
        throw fail('ENOSYS', `${name} not in the fake`);
    }
  }

  private register(nonce: Buffer, body: Request<'register'>): Reply<'register'> {
    this.registers.push(body);
    if (body.subdir === '/forbidden') throw fail('EACCES', 'no exports rule matches 127.0.0.1 for /forbidden');
    if (this.password !== undefined) {
      const want = createHash('sha256').update(nonce).update(this.password).digest();
      if (!body.passwordDigest || !want.equals(Buffer.from(body.passwordDigest))) throw fail('EPERM', 'wrong password');
    }
    return {
      sessionId: body.sessionId ?? this.nextSession++,
      root: ROOT_INODE,
      readonly: body.readonly,
      minGoal: 1,
      maxGoal: 9,
      minTrashtime: 0,
      maxTrashtime: 0xffff_ffff,
    };
  }
}

function makeAttr(inode: number, type: Attr['type'], mode: number): Attr {
  const t = { sec: 1, nsec: 0 };
  return { inode, type, mode, uid: 0, gid: 0, atime: t, mtime: t, ctime: t, nlink: 1, size: 0, rdev: 0, goal: 1, trashtime: 0 };
}

const masters: FakeMaster[] = [];
const sessions: MasterSession[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.close();
  for (const m of masters.splice(0)) await m.stop();
});

async function fakeMaster(): Promise<FakeMaster> {
  const m = await new FakeMaster().start();
  masters.push(m);
  return m;
}

async function open(ports: number[], extra: Partial<Parameters<typeof MasterSession.open>[0]> = {}): Promise<MasterSession> {
  const s = await MasterSession.open({ masters: ports.map((port) => ({ host: '127.0.0.1', port })), reconnectTimeoutMs: 5000, ...extra });
  sessions.push(s);
  return s;
}

/** A loopback port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('passwordDigest', () => {
  it('is sha256 over nonce then password bytes', () => {
    const nonce = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const want = createHash('sha256').update(Buffer.concat([nonce, Buffer.from('pässwörd', 'utf8')])).digest();
    expect(passwordDigest(nonce, 'pässwörd').equals(want)).toBe(true);
    expect(passwordDigest(Buffer.alloc(16), 'pässwörd').equals(want)).toBe(false);
  });
});

describe('MasterSession.open', () => {
  it('registers, sending the password digest for this link nonce', async () => {
    const m = await fakeMaster();
    m.password = 'secret';
    const s = await open([m.port], { password: 'secret', subdir: '/a', hostname: 'h1', mountpoint: '/mnt/x' });
    expect(s.info).toMatchObject({ sessionId: 100, root: ROOT_INODE, epoch: 7, master: { port: m.port } });
    expect(m.registers[0]).toMatchObject({ subdir: '/a', hostname: 'h1', mountpoint: '/mnt/x', meta: false });
  });

  it("rejects with the master's reason when refused", async () => {
    const m = await fakeMaster();
    m.password = 'secret';
    await expect(open([m.port], { password: 'wrong' })).rejects.toMatchObject({ status: Status.EPERM, message: 'wrong password' });
    await expect(open([m.port], { subdir: '/forbidden', password: 'secret' })).rejects.toMatchObject({
      status: Status.EACCES,
      message: expect.stringContaining('no exports rule'),
    });
  });

  it('tries the master addresses in turn', async () => {
    const m = await fakeMaster();
    const s = await open([await deadPort(), m.port]);
    expect(s.info.master.port).toBe(m.port);
  });

  it('fails with ECONNREFUSED naming every address when none answers', async () => {
    const a = await deadPort();
    await expect(open([a])).rejects.toMatchObject({ status: Status.ECONNREFUSED, message: expect.stringContaining(String(a)) });
  });
});

describe('MasterSession reconnect', () => {
  it('waits for the master to come back, re-registers with the same session id', async () => {
    const m = await fakeMaster();
    const s = await open([m.port]);
    const reconnected = new Promise((r) => s.once('reconnect', r));
    await m.stop();
    const pending = s.mkdir(ROOT_INODE, 'd1'); // sent while down: waits
    await new Promise((r) => setTimeout(r, 300));
    await m.start();
    await expect(pending).resolves.toMatchObject({ type: 'dir' });
    await reconnected;
    expect(m.registers.at(-1)?.sessionId).toBe(100);
    expect(s.sessionId).toBe(100);
  });

  it('moves to another master address when the first stays down', async () => {
    const a = await fakeMaster();
    const b = await fakeMaster();
    const s = await open([a.port, b.port]);
    await a.stop();
    await expect(s.mkdir(ROOT_INODE, 'x')).resolves.toMatchObject({ type: 'dir' });
    expect(s.info.master.port).toBe(b.port);
    expect(b.entries.has('x')).toBe(true);
  });

  it('a create applied before the link dropped is re-sent and its EEXIST resolved', async () => {
    const m = await fakeMaster();
    const s = await open([m.port]);
    m.drop.set('mkdir', 'after');
    const attr = await s.mkdir(ROOT_INODE, 'made', 0o750, { umask: 0 });
    expect(attr).toEqual(m.entries.get('made'));
    m.drop.set('unlink', 'after');
    await s.unlink(ROOT_INODE, 'made');
    expect(m.entries.has('made')).toBe(false);
  });

  it('an EEXIST on re-send for an entry that is not ours stays an error', async () => {
    const m = await fakeMaster();
    const s = await open([m.port]);
    await s.create(ROOT_INODE, 'taken');
    m.drop.set('mkdir', 'before');
    await expect(s.mkdir(ROOT_INODE, 'taken')).rejects.toMatchObject({ status: Status.EEXIST });
  });

  it('an error to a first send is never resolved away', async () => {
    const m = await fakeMaster();
    const s = await open([m.port]);
    await expect(s.unlink(ROOT_INODE, 'nothing')).rejects.toMatchObject({ status: Status.ENOENT });
    await s.mkdir(ROOT_INODE, 'd');
    await expect(s.mkdir(ROOT_INODE, 'd')).rejects.toMatchObject({ status: Status.EEXIST });
  });

  it('an unanswered request declares the link dead and is re-sent', async () => {
    const m = await fakeMaster();
    const s = await open([m.port], { requestTimeoutMs: 200 });
    m.drop.set('mkdir', 'hang');
    await expect(s.mkdir(ROOT_INODE, 'slow')).resolves.toMatchObject({ type: 'dir' });
    expect(m.registers).toHaveLength(2);
  });

  it('gives up after reconnectTimeoutMs with ETIMEDOUT', async () => {
    const m = await fakeMaster();
    const s = await open([m.port], { reconnectTimeoutMs: 300 });
    await m.stop();
    const started = Date.now();
    await expect(s.getattr(ROOT_INODE)).rejects.toMatchObject({ status: Status.ETIMEDOUT });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('close() fails waiting requests and stops reconnecting', async () => {
    const m = await fakeMaster();
    const s = await open([m.port]);
    await m.stop();
    const pending = s.getattr(ROOT_INODE);
    await new Promise((r) => setTimeout(r, 50));
    s.close();
    await expect(pending).rejects.toMatchObject({ status: Status.ECONNRESET, message: 'session closed' });
    await m.start();
    await new Promise((r) => setTimeout(r, 300));
    expect(m.registers).toHaveLength(1);
  });
});

describe('deferred releases', () => {
  /** Resolves once `cond` holds, polled every 10 ms for at most 3 s. */
  async function eventually(cond: () => boolean): Promise<void> {
    for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond()).toBe(true);
  }

  it('releases go out together, in order: ahead of an unlink or a rename, soon after by themselves, at close before the link ends', async () => {
    const m = await fakeMaster();
    const s = await open([m.port]);
    await s.release(5);
    await s.release(6);
    // A lookup does not depend on them: they stay due.
    await expect(s.lookup(ROOT_INODE, 'x')).rejects.toMatchObject({ status: Status.ENOENT });
    expect(m.seen).toEqual(['lookup x']);
    // An unlink does (the file it removes may be one of them): they go first, in one request.
    await s.create(ROOT_INODE, 'y');
    await s.unlink(ROOT_INODE, 'y');
    expect(m.seen).toEqual(['lookup x', 'mknod y', 'release 5', 'release 6', 'unlink y']);
    // No such request follows: they go by themselves.
    await s.release(7);
    await s.release(8);
    await eventually(() => m.seen.length === 7);
    expect(m.seen.slice(5)).toEqual(['release 7', 'release 8']);
    // Closing the session sends what is due before the link ends.
    await s.release(9);
    s.close();
    await eventually(() => m.seen.length === 8);
    expect(m.seen[7]).toBe('release 9');
  });

  it('a long run of closes goes out in batches of RELEASE_BATCH without waiting for the timer', async () => {
    const m = await fakeMaster();
    const s = await open([m.port]);
    for (let i = 0; i < RELEASE_BATCH; i++) await s.release(100 + i);
    await eventually(() => m.seen.length === RELEASE_BATCH);
    expect(m.seen.at(-1)).toBe(`release ${100 + RELEASE_BATCH - 1}`);
  });
});

describe('MasterSession in an HA group (docs/ha.md)', () => {
  it('opens on the leader a follower names, even one not in its list', async () => {
    const leader = await fakeMaster();
    const follower = await fakeMaster();
    follower.refuse.set('register', { err: notLeader('a follower', `127.0.0.1:${leader.port}`), times: Infinity });
    const s = await open([follower.port]);
    expect(s.info.master).toEqual({ host: '127.0.0.1', port: leader.port });
    expect(follower.refused).toEqual(['register']);
  });

  it('a request refused as not-the-leader is sent to the named leader, applied once, not counted as a re-send', async () => {
    const a = await fakeMaster();
    const b = await fakeMaster();
    const s = await open([a.port, b.port]);
    a.refuse.set('mkdir', { err: notLeader('stepped down', `127.0.0.1:${b.port}`), times: Infinity });
    a.refuse.set('register', { err: notLeader('stepped down', `127.0.0.1:${b.port}`), times: Infinity });
    await s.mkdir(ROOT_INODE, 'd');
    expect(a.entries.has('d')).toBe(false);
    expect(b.entries.has('d')).toBe(true);
    expect(s.info.master.port).toBe(b.port);
    expect(s.stats).toMatchObject({ resent: 0, resolved: 0 });
  });

  it('a leader holding changes without naming another is asked again on the same link until it takes them', async () => {
    const m = await fakeMaster();
    const s = await open([m.port]);
    m.refuse.set('mkdir', { err: notLeader('lease unconfirmed'), times: 3 });
    await s.mkdir(ROOT_INODE, 'd');
    expect(m.refused).toEqual(['mkdir', 'mkdir', 'mkdir']);
    expect(m.entries.has('d')).toBe(true);
    expect(m.registers).toHaveLength(1);
  });

  it('gives the refusal to the caller once reconnectTimeoutMs has passed', async () => {
    const m = await fakeMaster();
    const s = await open([m.port], { reconnectTimeoutMs: 600 });
    m.refuse.set('mkdir', { err: notLeader('lease unconfirmed'), times: Infinity });
    await expect(s.mkdir(ROOT_INODE, 'd')).rejects.toMatchObject({ status: Status.EREMCHG });
    expect(m.entries.has('d')).toBe(false);
  });
});

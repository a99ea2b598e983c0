import { isTsmfsError } from '@tsmfs/protocol';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { parseExports, passwordDigest } from './exports.js';
import { createEmptyMetadata } from './metadata/metadata.js';
import { Namespace } from './metadata/namespace.js';
import { type Session, Sessions } from './sessions.js';

const root = { uid: 0, gid: 0, groups: [0] };
const nonce = new Uint8Array(32).fill(1);

function setup(exportsText: string, registered?: ConstructorParameters<typeof Sessions>[0]['registered']) {
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
  const rules = parseExports(exportsText, 'exports.cfg').rules;
  const sessions = new Sessions({ rules: () => rules, namespace: () => ns, sustainMs: 0, registered, log: pino({ level: 'silent' }) });
  // Its orphan sweeper (every 100 ms at sustainMs 0) would otherwise run on in the worker's next test files.
  onTestFinished(() => sessions.clear());
  const link = {};
  const register = (over: Partial<Parameters<Sessions['register']>[0]> = {}, address = '127.0.0.1'): Session =>
    sessions.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt', ...over }, { address, nonce, link });
  return { ns, sessions, register, link };
}

const errno = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (isTsmfsError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'no error';
};

describe('Sessions', () => {
  it('roots a session at an exported subdirectory; its ".." is itself', () => {
    const { ns, sessions, register } = setup('* / rw,alldirs,maproot=0');
    const home = ns.mkdir({ cred: root, parent: 1, name: 'home', mode: 0o755, umask: 0 }).attr.inode;
    const s = register({ subdir: '/home/' });
    expect(sessions.registerReply(s)).toMatchObject({ root: home, readonly: false, minGoal: 1, maxGoal: 9 });
    expect(errno(() => register({ subdir: '/nope' }))).toBe('ENOENT: subdirectory /nope does not exist');
    ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 });
    expect(errno(() => register({ subdir: '/f' }))).toBe('ENOTDIR: subdirectory /f is not a directory');
  });

  it('refuses with the reason: no rule, password', () => {
    const { register } = setup('10.0.0.0/8 / rw\n127.0.0.1 /secret rw,password=pw');
    expect(errno(() => register({}, '192.168.1.1'))).toBe('EACCES: no export rule for 192.168.1.1 matches path /');
    expect(errno(() => register({ subdir: '/secret' }))).toBe('EACCES: a password is required for path /secret (export rule exports.cfg:2)');
    expect(errno(() => register({ subdir: '/secret', passwordDigest: passwordDigest(nonce, 'bad') }))).toMatch(/^EACCES: wrong password/);
  });

  it("drops a disconnected session's locks after LOCK_SUSTAIN_TIME unless its client came back first; the session stays", () => {
    vi.useFakeTimers();
    try {
      let t = 1_700_000_000;
      const clock = () => ({ sec: t++, nsec: 0 });
      const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
      const rules = parseExports('* / rw', 'exports.cfg').rules;
      const dropped: number[] = [];
      const sessions = new Sessions({ rules: () => rules, namespace: () => ns, sustainMs: 3_600_000, lockSustainMs: 1000, dropLocks: (id) => dropped.push(id), log: pino({ level: 'silent' }) });
      const link = {};
      const register = (sessionId?: number): Session => sessions.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt', sessionId }, { address: '127.0.0.1', nonce, link });
      const a = register();
      sessions.detach(a, link);
      vi.advanceTimersByTime(900);
      expect(register(a.id).id).toBe(a.id); // back in time: its locks stay
      vi.advanceTimersByTime(5000);
      expect(dropped).toEqual([]);
      sessions.detach(a, link);
      vi.advanceTimersByTime(1000);
      expect(dropped).toEqual([a.id]);
      expect(sessions.all.map((s) => s.id)).toContain(a.id);
      sessions.clear();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a link that closes after clear() (the master stopping) arms no expiry: nothing is recorded after the stop', () => {
    vi.useFakeTimers();
    try {
      let t = 1_700_000_000;
      const clock = () => ({ sec: t++, nsec: 0 });
      const recorded: unknown[] = [];
      const ns = new Namespace(createEmptyMetadata(clock()), (m) => void recorded.push(m), clock);
      const rules = parseExports('* / rw', 'exports.cfg').rules;
      const sessions = new Sessions({ rules: () => rules, namespace: () => ns, sustainMs: 1000, log: pino({ level: 'silent' }) });
      const link = {};
      const a = sessions.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt' }, { address: '127.0.0.1', nonce, link });
      const before = recorded.length;
      sessions.clear();
      sessions.detach(a, link);
      vi.advanceTimersByTime(5000);
      // The session's end would go to a changelog that is closed by now.
      expect(recorded.length).toBe(before);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('resumes a session by id from the same address only', () => {
    const { sessions, register, link } = setup('* / rw');
    const a = register();
    sessions.detach(a, link);
    expect(register({ sessionId: a.id }).id).toBe(a.id);
    expect(register({ sessionId: a.id }, '127.0.0.2').id).not.toBe(a.id);
  });

  it('a former leader\'s session is absent until its client re-attaches, declaring its writes in flight (a new leader\'s grace period)', () => {
    const heard: [number, unknown][] = [];
    const { ns, sessions, register } = setup('* / rw', (session, writes) => heard.push([session.id, writes]));
    const mk = (name: string) => ns.mknod({ cred: root, parent: 1, name, type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
    const [w, r, other] = [mk('w'), mk('r'), mk('o')];
    const fresh = register({ writes: [{ inode: w, index: 0, chunkId: 1, version: 1 }] });
    // Recorded by a former leader (as the changelog brings it), with no link here.
    ns.clients.openSession({ id: 4242, address: '127.0.0.1', root: 1, meta: false, openedAt: 1 });
    expect(sessions.absent()).toEqual([4242]);
    expect(sessions.linked(4242)).toBe(false);
    const claim = (inode: number) => ({ inode, index: 3, chunkId: 55, version: 6 });
    const opens = [
      { inode: w, count: 1, writing: true },
      { inode: r, count: 1, writing: false },
    ];
    expect(register({ sessionId: 4242, opens, writes: [claim(w), claim(r), claim(other)] }).id).toBe(4242);
    expect(sessions.absent()).toEqual([]);
    expect(sessions.linked(4242)).toBe(true);
    // A new session has nothing in flight to claim; a client coming back claims only in
    // files it holds open for writing (not one open read-only, not one it does not hold).
    expect(heard).toEqual([
      [fresh.id, undefined],
      [4242, [claim(w)]],
    ]);
  });
});

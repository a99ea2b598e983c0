import { type Request, Status, TsmfsError, isTsmfsError } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { root, servingSetup } from '../links/client-requests.test-helpers.js';
import { decodeDump, encodeDump } from '../metadata/metadata-dump.js';
import { canonicalState } from '../metadata/state-digest.js';
import type { Session } from '../sessions.js';
import { LOCK_EOF } from './lock-table.js';

function setup() {
  const { ns, sessions, requests, mutations, replayed, register: registerAt } = servingSetup();
  let address = 1;
  const file = ns.mknod({ cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0 }).attr.inode;
  /** A session holding the file open once. */
  const register = (): Session => {
    const s = registerAt(undefined, `127.0.0.${address++}`);
    void requests.serve(s, 'open', { cred: root, inode: file, flags: 2 });
    return s;
  };
  const lock = async (s: Session, owner: string, type: number, start: number, end: number, wait?: number, kind: 'posix' | 'flock' = 'posix') =>
    requests.serve(s, 'lockSet', { inode: file, kind, owner, type, start, end, pid: 1000 + s.id % 1000, wait } as Request<'lockSet'>);
  const test = async (s: Session, owner: string, type: number, start: number, end: number) =>
    requests.serve(s, 'lockTest', { inode: file, kind: 'posix', owner, type, start, end, pid: 1 });
  return { ns, sessions, requests, register, lock, test, file, mutations, replayed };
}

async function status(p: unknown): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (isTsmfsError(err)) return err.status;
    throw err;
  }
}

describe('the lock manager', () => {
  it('excludes other owners, tests, waits in order, and grants on release', async () => {
    const { register, lock, test } = setup();
    const a = register();
    const b = register();
    expect(await lock(a, '1', 1, 0, 9)).toEqual({ granted: true });
    expect(await status(lock(b, '1', 0, 5, 5))).toBe(Status.EAGAIN);
    // The same owner id on another session is another owner.
    expect(await test(b, '1', 0, 0, 0)).toEqual({ conflict: { type: 1, start: 0, end: 9, pid: 1000 + (a.id % 1000) } });
    expect(await test(b, '1', 0, 10, 20)).toEqual({});
    expect(await lock(b, '2', 0, 10, 20)).toEqual({ granted: true });
    const first = lock(b, '1', 1, 0, 0, 1);
    const second = lock(b, '3', 0, 0, 0, 2);
    await new Promise((r) => setTimeout(r, 10));
    // a's unlock of byte 0: the first waiter (a writer) gets it; the reader behind it still conflicts.
    expect(await lock(a, '1', 2, 0, 0)).toEqual({ granted: true });
    expect(await first).toEqual({ granted: true });
    expect(await test(a, '9', 0, 0, 0)).toEqual({ conflict: { type: 1, start: 0, end: 0, pid: 1000 + (b.id % 1000) } });
    await lock(b, '1', 2, 0, LOCK_EOF);
    expect(await second).toEqual({ granted: true });
  });

  it('refuses a lock on a file the session has not open (EBADF); an unlock is always answered', async () => {
    const { requests, register, lock, file } = setup();
    const a = register();
    await requests.serve(a, 'release', { inode: file });
    expect(await status(lock(a, '1', 0, 0, 0))).toBe(Status.EBADF);
    expect(await lock(a, '1', 2, 0, LOCK_EOF)).toEqual({ granted: true });
  });

  it('refuses malformed requests with EINVAL and ignores a cancel of a wait it does not know', async () => {
    const { requests, register, lock, file, ns } = setup();
    const a = register();
    const version = ns.md.version;
    expect(await status(lock(a, 'x1', 1, 0, 0))).toBe(Status.EINVAL);
    expect(await status(lock(a, '1', 3, 0, 0))).toBe(Status.EINVAL);
    expect(await status(lock(a, '1', 1, 9, 8))).toBe(Status.EINVAL);
    expect(await status(lock(a, '1', 1, 0, LOCK_EOF + 2))).toBe(Status.EINVAL);
    expect(await status((async () => requests.serve(a, 'lockTest', { inode: file, kind: 'posix', owner: '', type: 0, start: 0, end: 0, pid: 1 }))())).toBe(Status.EINVAL);
    expect(await requests.serve(a, 'lockCancel', { wait: 12345 })).toEqual({});
    expect(ns.md.version).toBe(version);
  });

  it('answers EINTR to a cancelled wait and drops its waiter', async () => {
    const { requests, register, lock } = setup();
    const a = register();
    const b = register();
    await lock(a, '1', 1, 0, LOCK_EOF, undefined, 'flock');
    const waiting = lock(b, '1', 1, 0, LOCK_EOF, 7, 'flock');
    expect(requests.locks.waiting).toBe(1);
    await requests.serve(b, 'lockCancel', { wait: 7 });
    expect(await status(waiting)).toBe(Status.EINTR);
    expect(requests.locks.waiting).toBe(0);
    await lock(a, '1', 2, 0, LOCK_EOF, undefined, 'flock');
    // Nobody got it behind our back: a third owner takes it at once.
    expect(await lock(b, '2', 0, 0, LOCK_EOF, undefined, 'flock')).toEqual({ granted: true });
  });

  it('finds the two-owner deadlock: EDEADLK for the second waiter', async () => {
    const { register, lock } = setup();
    const a = register();
    const b = register();
    await lock(a, '1', 1, 0, 9);
    await lock(b, '1', 1, 10, 19);
    const aWaits = lock(a, '1', 1, 10, 19, 1);
    expect(await status(lock(b, '1', 1, 0, 9, 1))).toBe(Status.EDEADLK);
    await lock(b, '1', 2, 0, LOCK_EOF);
    expect(await aWaits).toEqual({ granted: true });
  });

  it('answers a wait not granted within its slice with granted: false, keeping its place for the re-send', async () => {
    const { requests, register, lock } = setup();
    (requests.locks as unknown as { options: { waitSliceMs: number } }).options.waitSliceMs = 20;
    const a = register();
    const b = register();
    await lock(a, '1', 1, 0, 0);
    expect(await lock(b, '1', 1, 0, 0, 3)).toEqual({ granted: false });
    expect(requests.locks.waiting).toBe(1);
    const again = lock(b, '1', 1, 0, 0, 3);
    await lock(a, '1', 2, 0, 0);
    expect(await again).toEqual({ granted: true });
    expect(requests.locks.waiting).toBe(0);
  });

  it('drops what a session still holds on a file when it releases its last open of it', async () => {
    const { requests, register, lock, file, ns } = setup();
    const a = register();
    await requests.serve(a, 'open', { cred: root, inode: file, flags: 0 });
    await lock(a, '1', 1, 0, 9);
    await lock(a, '2', 0, 0, LOCK_EOF, undefined, 'flock');
    await requests.serve(a, 'release', { inode: file });
    expect(ns.md.clients.locks.size).toBe(2);
    await requests.serve(a, 'release', { inode: file });
    expect(ns.md.clients.locks.size).toBe(0);
  });

  it('writes nothing while this master may not change metadata (HA): refused requests, grants held back', async () => {
    const { requests, register, lock, ns } = setup();
    const a = register();
    const b = register();
    await lock(a, '1', 1, 0, 0);
    const waiting = lock(b, '1', 1, 0, 0, 1);
    let refused: Error | undefined = new TsmfsError(Status.EREMCHG, 'not the leader');
    (requests.locks as unknown as { options: { refusal: () => Error | undefined } }).options.refusal = () => refused;
    const version = ns.md.version;
    expect(await status(lock(a, '1', 2, 0, 0))).toBe(Status.EREMCHG);
    expect(await status(lock(a, '2', 0, 5, 5))).toBe(Status.EREMCHG);
    expect(ns.md.version).toBe(version);
    refused = undefined;
    await lock(a, '1', 2, 0, 0);
    expect(await waiting).toEqual({ granted: true });
  });

  it('replicates the table: a replay and a dump give the same locks; a session end drops them', async () => {
    const { ns, register, lock, replayed, sessions, file } = setup();
    const a = register();
    const b = register();
    await lock(a, '1', 1, 0, 99);
    await lock(a, '1', 2, 10, 19);
    await lock(b, '4', 0, 200, LOCK_EOF, undefined, 'flock');
    expect(canonicalState(replayed())).toEqual(canonicalState(ns.md));
    expect(canonicalState(decodeDump(encodeDump(ns.md)))).toEqual(canonicalState(ns.md));
    expect(ns.md.clients.locks.held('posix', file)?.map((l) => [l.start, l.end])).toEqual([
      [0, 9],
      [20, 99],
    ]);
    // Ending a's session (as an expiry does) drops its locks, on replay too.
    sessions.replace(a, a.link!);
    expect(ns.md.clients.locks.held('posix', file)).toBeUndefined();
    expect(canonicalState(replayed())).toEqual(canonicalState(ns.md));
  });
});

import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parseExports } from '../exports.js';
import { ClientRequests } from '../links/client-requests.js';
import { T0, nonce, root, servingSetup } from '../links/client-requests.test-helpers.js';
import { type Session, Sessions } from '../sessions.js';
import { MAX_RESULTS_PER_SESSION } from './client-state.js';
import { decodeDump, encodeDump } from './metadata-dump.js';
import { Namespace } from './namespace.js';
import { canonicalState } from './state-digest.js';

const setup = servingSetup;

describe('the request-id table (exactly-once requests)', () => {
  it('answers a re-sent create with the recorded attr, and does not apply a re-sent unlink again', async () => {
    const { ns, serve, register, mutations } = setup();
    const a = register();
    const made = await serve(a, 'mknod', { cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0, rid: 1, ridLow: 1 });
    const entries = mutations.length;
    // Another session renames it away and makes a directory of the name.
    const b = register(undefined, '127.0.0.2');
    await serve(b, 'rename', { cred: root, parent: 1, name: 'f', newParent: 1, newName: 'g', flags: 0, rid: 1, ridLow: 1 });
    await serve(b, 'mkdir', { cred: root, parent: 1, name: 'f', mode: 0o755, umask: 0, rid: 2, ridLow: 2 });
    const again = await serve(a, 'mknod', { cred: root, parent: 1, name: 'f', type: 'file', mode: 0o644, umask: 0, rdev: 0, rid: 1, ridLow: 1 });
    expect(again.attr).toEqual(made.attr);
    // b's session record, its rename and mkdir: nothing for the re-send.
    expect(mutations.length).toBe(entries + 3);

    await serve(a, 'mknod', { cred: root, parent: 1, name: 'u', type: 'file', mode: 0o644, umask: 0, rdev: 0, rid: 2, ridLow: 2 });
    await serve(a, 'unlink', { cred: root, parent: 1, name: 'u', rid: 3, ridLow: 3 });
    const theirs = await serve(b, 'mknod', { cred: root, parent: 1, name: 'u', type: 'file', mode: 0o600, umask: 0, rdev: 0, rid: 3, ridLow: 3 });
    await serve(a, 'unlink', { cred: root, parent: 1, name: 'u', rid: 3, ridLow: 3 });
    expect(ns.md.lookup(1, 'u')).toBe(theirs.attr.inode);
    // Without an id (an older client) the re-send is applied: the probing fallback's case.
    await serve(a, 'unlink', { cred: root, parent: 1, name: 'u' });
    expect(ns.md.lookup(1, 'u')).toBeUndefined();
  });

  it('replay, a follower and the dump rebuild the same table; a new master lets the client re-attach to its id', async () => {
    const { ns, serve, register, replayed } = setup();
    const a = register();
    const made = await serve(a, 'mkdir', { cred: root, parent: 1, name: 'd', mode: 0o755, umask: 0, rid: 7, ridLow: 7 });
    await serve(a, 'symlink', { cred: root, parent: 1, name: 'l', target: 'd', rid: 8, ridLow: 7 });
    const md = replayed();
    expect(canonicalState(md)).toEqual(canonicalState(ns.md));
    const fromDump = decodeDump(encodeDump(md));
    expect(canonicalState(fromDump)).toEqual(canonicalState(ns.md));
    expect(fromDump.clients.lookup(a.id, 7)?.attr).toEqual(made.attr);
    expect([...fromDump.clients.sessions.keys()]).toEqual([a.id]);

    // The next leader: the same metadata, no live session. The client comes back with its id.
    const rules = parseExports('* / rw,maproot=0', 'exports.cfg').rules;
    const ns2 = new Namespace(fromDump, () => undefined, () => T0);
    const sessions2 = new Sessions({ rules: () => rules, namespace: () => ns2, sustainMs: 60_000, log: pino({ level: 'silent' }) });
    const requests2 = new ClientRequests({ sessions: sessions2, namespace: () => ns2 });
    const back = sessions2.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt', sessionId: a.id }, { address: '127.0.0.1', nonce, link: {} });
    expect(back.id).toBe(a.id);
    const again = await requests2.serve(back, 'mkdir', { cred: root, parent: 1, name: 'd', mode: 0o755, umask: 0, rid: 7, ridLow: 7 });
    expect(again.attr).toEqual(made.attr);
    // From another address the id is not given back.
    const other = sessions2.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt', sessionId: a.id }, { address: '127.0.0.9', nonce, link: {} });
    expect(other.id).not.toBe(a.id);
    expect(other.id).toBeGreaterThan(a.id);
    sessions2.clear();
  });

  it('forgets results below the client\'s low-water mark, keeps at most MAX_RESULTS_PER_SESSION, and drops a session\'s with it', async () => {
    const { ns, serve, register, sessions } = setup();
    const a = register();
    await serve(a, 'mkdir', { cred: root, parent: 1, name: 'x1', mode: 0o755, umask: 0, rid: 1, ridLow: 1 });
    await serve(a, 'mkdir', { cred: root, parent: 1, name: 'x2', mode: 0o755, umask: 0, rid: 2, ridLow: 1 });
    await serve(a, 'mkdir', { cred: root, parent: 1, name: 'x3', mode: 0o755, umask: 0, rid: 3, ridLow: 2 });
    expect([...ns.md.clients.results.get(a.id)!.keys()]).toEqual([2, 3]);
    // A client that never moves its mark.
    for (let r = 4; r < MAX_RESULTS_PER_SESSION + 10; r++) await serve(a, 'mkdir', { cred: root, parent: 1, name: `y${r}`, mode: 0o755, umask: 0, rid: r, ridLow: 2 });
    expect(ns.md.clients.results.get(a.id)!.size).toBe(MAX_RESULTS_PER_SESSION);
    // A session replaced on its link ends (and its results with it).
    const link = {};
    const s1 = sessions.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt' }, { address: '127.0.0.1', nonce, link });
    await serve(s1, 'mkdir', { cred: root, parent: 1, name: 'z', mode: 0o755, umask: 0, rid: 1, ridLow: 1 });
    sessions.replace(s1, link);
    expect(ns.md.clients.sessions.has(s1.id)).toBe(false);
    expect(ns.md.clients.results.has(s1.id)).toBe(false);
    sessions.clear();
  });

  it('a re-attaching session gets back its opens of named files inside its export and of sustained files recorded as its own, no others', async () => {
    const { ns, sessions, serve, register } = setup();
    ns.clients.holdersOf = (inode) => sessions.holdersOf(inode);
    const a = register();
    const b = register(undefined, '127.0.0.2');
    const mk = async (s: Session, name: string) => (await serve(s, 'mknod', { cred: root, parent: 1, name, type: 'file', mode: 0o644, umask: 0, rdev: 0, open: 2 })).attr.inode;
    const named = await mk(a, 'named');
    const mine = await mk(a, 'mine');
    const theirs = await mk(b, 'theirs');
    for (const name of ['mine', 'theirs']) {
      await serve(a, 'settrashtime', { cred: root, inode: ns.md.lookup(1, name)!, trashtime: 0, mode: 'set', recursive: false });
      await serve(a, 'unlink', { cred: root, parent: 1, name });
    }
    expect([...ns.md.sustained.keys()]).toEqual([mine, theirs]);
    expect(ns.md.clients.sustainedBy.get(mine)).toEqual([a.id]);

    // The next leader: a's client comes back claiming all three, and b's file too.
    const md = decodeDump(encodeDump(ns.md));
    const rules = parseExports('* / rw,maproot=0', 'exports.cfg').rules;
    const ns2 = new Namespace(md, () => undefined, () => T0);
    const outside = new Set<number>();
    const sessions2 = new Sessions({ rules: () => rules, namespace: () => ns2, sustainMs: 60_000, inScope: (_s, inode) => !outside.has(inode), log: pino({ level: 'silent' }) });
    const claims = [named, mine, theirs].map((inode) => ({ inode, count: 1, writing: true }));
    const back = sessions2.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt', sessionId: a.id, opens: claims }, { address: '127.0.0.1', nonce, link: {} });
    expect([...back.opens.keys()]).toEqual([named, mine]);
    expect(ns2.opens(mine)).toBe(1);
    expect(ns2.opens(theirs)).toBe(0);
    // Closing it there ends the sustained file.
    sessions2.release(back, mine);
    expect(md.sustained.has(mine)).toBe(false);
    // A file outside the export is not taken.
    outside.add(named);
    const again = sessions2.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt', sessionId: b.id, opens: [{ inode: named, count: 1, writing: false }] }, { address: '127.0.0.2', nonce, link: {} });
    expect(again.id).toBe(b.id);
    expect(again.opens.size).toBe(0);
    sessions.clear();
    sessions2.clear();
  });
});

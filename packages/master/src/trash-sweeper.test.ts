import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createEmptyMetadata } from './metadata/metadata.js';
import type { Mutation } from './metadata/mutation.js';
import { Namespace } from './metadata/namespace.js';
import { TrashSweeper } from './trash-sweeper.js';

const root = { uid: 0, gid: 0, groups: [0] };

describe('TrashSweeper', () => {
  it('purges trashed files once their trash time has run out, and only those', () => {
    let now = 1_700_000_000;
    const clock = () => ({ sec: now, nsec: 0 });
    const log: Mutation[] = [];
    const ns = new Namespace(createEmptyMetadata(clock()), (m) => void log.push(m), clock);
    for (const name of ['short', 'long']) ns.mknod({ cred: root, parent: 1, name, type: 'file', mode: 0o644, umask: 0, rdev: 0 });
    const shortInode = ns.lookup({ cred: root, parent: 1, name: 'short' }).attr.inode;
    ns.settrashtime({ cred: root, inode: shortInode, trashtime: 60, mode: 'set', recursive: false });
    ns.unlink({ cred: root, parent: 1, name: 'short' });
    ns.unlink({ cred: root, parent: 1, name: 'long' });
    expect(ns.trashList({}).entries).toHaveLength(2);
    const sweeper = new TrashSweeper({
      periodMs: 1000,
      expired: (t) => ns.expiredTrash(t),
      purge: (inode) => ns.purge(inode),
      nowSec: () => now,
      log: pino({ level: 'silent' }),
    });
    expect(sweeper.sweep()).toBe(0);
    now += 61;
    expect(sweeper.sweep()).toBe(1);
    expect(ns.trashList({}).entries.map((e) => e.path)).toEqual(['/long']);
    expect(log.at(-1)).toMatchObject({ op: 'purge', inode: shortInode });
  });
});

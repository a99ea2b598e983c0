import fc from 'fast-check';
import { TsmfsError, statusName } from '@tsmfs/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KernelOp, KernelOracle, type KernelRun, kernelOracleAvailable } from './kernel-oracle.test-helpers.js';
import type { Metadata } from './metadata.js';
import { CREDS, type Live, NAMES, PARENTS, SEED, freshLive, opArb, errnoOf } from './namespace-ops.test-helpers.js';

/**
 * Namespace against the real kernel on a local ext4 directory: the same op sequences,
 * run as the same users (forked children with setresuid/setgroups), must give the same
 * errno for every op and the same tree. Paths are resolved on the Namespace side the
 * way the client does it: one lookup per component, as the caller.
 */

const kernelPathArb = fc.tuple(fc.constantFrom(...PARENTS), fc.constantFrom(...NAMES)).map(([d, n]) => (d ? `${d}/${n}` : n));
const whoArb = fc.integer({ min: 0, max: 2 });

/** Symlinks are left out: chmod, truncate and xattr calls on the kernel follow them. */
const kernelOpArb: fc.Arbitrary<KernelOp> = fc.oneof(
  { weight: 12, arbitrary: opArb.filter((op) => op.k !== 'symlink') },
  fc.record({ k: fc.constant('write' as const), who: whoArb, path: kernelPathArb }),
  fc.record({ k: fc.constant('ftruncate' as const), who: whoArb, path: kernelPathArb, size: fc.constantFrom(0, 1, 100_000_000) }),
);

const O_WRONLY = 1;

/**
 * What the FUSE kernel adds, as a mode change, to a write or truncate by a caller without
 * CAP_FSETID when the file system cannot clear setuid/setgid itself (libfuse 2.9: no
 * FUSE_CAP_HANDLE_KILLPRIV; fuse_setattr): setuid, and setgid if group-executable.
 */
function fuseKillPriv(live: Live, who: number, inode: number): { mode?: number; killPrivNotice?: true } {
  if (CREDS[who].uid === 0 || live.md.typeOf(inode) !== 'file') return {};
  const mode = live.md.mode[inode]! & 0o7777;
  let killed = mode & ~0o4000;
  if ((killed & 0o2010) === 0o2010) killed &= ~0o2000;
  return killed === mode ? {} : { mode: killed, killPrivNotice: true };
}

/** `use` between an open for writing and its release, as a process with a descriptor does it. */
function throughDescriptor(live: Live, who: number, inode: number, use: () => void): void {
  live.ns.open({ cred: CREDS[who], inode, flags: O_WRONLY });
  try {
    use();
  } finally {
    live.ns.release({ inode });
  }
}

class Resolve extends Error {
  constructor(readonly errno: string) {
    super(errno);
  }
}

function call<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof TsmfsError) throw new Resolve(statusName(err.status));
    throw err;
  }
}

function lookupPath(live: Live, who: number, path: string): number {
  let inode = 1;
  for (const name of path.split('/').filter(Boolean)) {
    inode = call(() => live.ns.lookup({ cred: CREDS[who], parent: inode, name }).attr.inode);
  }
  return inode;
}

/** A parent as the kernel's path_parentat leaves it: a searchable directory. */
function parentDir(live: Live, who: number, path: string): number {
  const inode = lookupPath(live, who, path);
  if (live.md.typeOf(inode) !== 'dir') throw new Resolve('ENOTDIR');
  call(() => live.ns.access({ cred: CREDS[who], inode, mask: 1 }));
  return inode;
}

/** Runs `op` like a client would: resolve by lookups as the caller, then the request(s) the FUSE kernel sends. */
function runAsClient(live: Live, op: KernelOp): string {
  try {
    const who = op.who;
    const cred = CREDS[who];
    const ns = live.ns;
    switch (op.k) {
      case 'create':
        return errnoOf(() => ns.mknod({ cred, parent: parentDir(live, who, op.dir), name: op.name, type: 'file', mode: op.mode, umask: 0, rdev: 0 }));
      case 'mkdir':
        return errnoOf(() => ns.mkdir({ cred, parent: parentDir(live, who, op.dir), name: op.name, mode: op.mode, umask: 0 }));
      case 'symlink':
        return errnoOf(() => ns.symlink({ cred, parent: parentDir(live, who, op.dir), name: op.name, target: op.target }));
      case 'unlink':
        return errnoOf(() => ns.unlink({ cred, parent: parentDir(live, who, op.dir), name: op.name }));
      case 'rmdir':
        return errnoOf(() => ns.rmdir({ cred, parent: parentDir(live, who, op.dir), name: op.name }));
      case 'rename': {
        const parent = parentDir(live, who, op.dir);
        const newParent = parentDir(live, who, op.dir2);
        return errnoOf(() => ns.rename({ cred, parent, name: op.name, newParent, newName: op.name2, flags: op.flags }));
      }
      case 'link': {
        const inode = lookupPath(live, who, op.path);
        const parent = parentDir(live, who, op.dir2);
        return errnoOf(() => ns.link({ cred, inode, parent, name: op.name2 }));
      }
      case 'chmod':
        return errnoOf(() => ns.setattr({ cred, inode: lookupPath(live, who, op.path), mode: op.mode }));
      case 'chown': {
        const req: Parameters<Live['ns']['setattr']>[0] = { cred, inode: lookupPath(live, who, op.path) };
        if (op.uid !== undefined) req.uid = op.uid;
        if (op.gid !== undefined) req.gid = op.gid;
        return errnoOf(() => ns.setattr(req));
      }
      case 'truncate': {
        const inode = lookupPath(live, who, op.path);
        return errnoOf(() => ns.setattr({ cred, inode, size: op.size, ...fuseKillPriv(live, who, inode) }));
      }
      case 'ftruncate': {
        const inode = lookupPath(live, who, op.path);
        return errnoOf(() =>
          throughDescriptor(live, who, inode, () => ns.setattr({ cred, inode, size: op.size, viaWritableHandle: true, ...fuseKillPriv(live, who, inode) })),
        );
      }
      case 'write': {
        const inode = lookupPath(live, who, op.path);
        return errnoOf(() =>
          throughDescriptor(live, who, inode, () => {
            const kill = fuseKillPriv(live, who, inode);
            if (kill.mode !== undefined) ns.setattr({ cred, inode, ...kill });
            const grant = ns.writeChunk({ cred, inode, index: 0 });
            ns.writeChunkEnd({ inode, index: 0, chunkId: grant.chunkId, length: 1, ok: true });
          }),
        );
      }
      case 'setxattr':
        return errnoOf(() =>
          ns.setxattr({ cred, inode: lookupPath(live, who, op.path), name: op.name, value: Buffer.from(op.value), flags: op.flags }),
        );
      case 'removexattr':
        return errnoOf(() => ns.removexattr({ cred, inode: lookupPath(live, who, op.path), name: op.name }));
    }
  } catch (err) {
    if (err instanceof Resolve) return err.errno;
    throw err;
  }
}

function projectMetadata(md: Metadata): Record<string, unknown> {
  const tree: Record<string, unknown> = {};
  const first = new Map<number, string>();
  const walk = (dir: number, prefix: string): void => {
    for (const [name, inode] of md.children.get(dir)!) {
      const path = `${prefix}/${name}`;
      if (!first.has(inode)) first.set(inode, path);
      const a = md.attr(inode);
      tree[path] = {
        type: a.type,
        mode: a.mode,
        uid: a.uid,
        gid: a.gid,
        nlink: a.nlink,
        size: a.size,
        same: first.get(inode),
        xattrs: [...(md.xattrs.get(inode) ?? [])].map(([n, v]) => [n, Buffer.from(v).toString()]).sort(),
      };
      if (a.type === 'dir') walk(inode, path);
    }
  };
  walk(1, '');
  const r = md.attr(1);
  return { root: { mode: r.mode, uid: r.uid, gid: r.gid }, tree };
}

function projectKernel(run: KernelRun): Record<string, unknown> {
  const tree: Record<string, unknown> = {};
  for (const [path, { ino, ...rest }] of Object.entries(run.tree)) tree[path] = { ...rest, same: `ino:${ino}` };
  return { root: run.root, tree };
}

/** Hard-link identity as "the smallest path naming the same node", the same on both sides. */
function normalizeSame(p: Record<string, unknown>): Record<string, unknown> {
  const tree = p.tree as Record<string, { same: string }>;
  const groups = new Map<string, string[]>();
  for (const path of Object.keys(tree)) {
    const g = groups.get(tree[path]!.same) ?? [];
    g.push(path);
    groups.set(tree[path]!.same, g);
  }
  const out: Record<string, unknown> = {};
  for (const g of groups.values()) {
    const min = [...g].sort()[0]!;
    for (const path of g) out[path] = { ...tree[path], same: min };
  }
  return { root: p.root, tree: out };
}

const oracle = kernelOracleAvailable();

describe.runIf(oracle)('Namespace against the Linux kernel (ext4, real uids)', () => {
  let kernelOracle: KernelOracle;
  beforeAll(() => {
    kernelOracle = new KernelOracle();
  });
  afterAll(() => kernelOracle.close());

  // Each of the 120 runs replays its sequence on ext4 through a real process per user; the
  // bound is for a hang, not speed.
  it('random op sequences with random users: same errno per op, same final tree', { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(kernelOpArb, { minLength: 1, maxLength: 50, size: 'max' }), async (ops) => {
        const all = [...SEED, ...ops];
        const kernel = await kernelOracle.run(all);
        const live = freshLive(false);
        const ours = all.map((op) => runAsClient(live, op));
        for (let i = 0; i < all.length; i++) {
          if (ours[i] !== kernel.results[i]) {
            throw new Error(`op ${i} ${JSON.stringify(all[i])}: kernel ${kernel.results[i]}, namespace ${ours[i]}`);
          }
        }
        expect(normalizeSame(projectMetadata(live.md))).toEqual(normalizeSame(projectKernel(kernel)));
      }),
      { numRuns: 120 },
    );
  });

  /** Named corner cases from the issue, each checked op by op against the kernel. */
  const cases: Record<string, KernelOp[]> = {
    'non-owner write, truncate and ftruncate of setuid/setgid files (issue 9)': privsCase(),
    'mkdir of an existing name without write permission: EEXIST wins over EACCES': [
      { k: 'mkdir', who: 0, dir: '', name: 'a', mode: 0o755 },
      { k: 'mkdir', who: 0, dir: 'a', name: 'b', mode: 0o755 },
      { k: 'mkdir', who: 1, dir: 'a', name: 'b', mode: 0o755 },
      { k: 'mkdir', who: 1, dir: 'a', name: 'c', mode: 0o755 },
      { k: 'chmod', who: 0, path: 'a', mode: 0o744 },
      { k: 'mkdir', who: 1, dir: 'a', name: 'b', mode: 0o755 },
    ],
    'sticky directory: only owner of file or dir, or root, may unlink or rename': [
      { k: 'chmod', who: 0, path: '', mode: 0o777 },
      { k: 'mkdir', who: 0, dir: '', name: 't', mode: 0o1777 },
      { k: 'create', who: 1, dir: 't', name: 'a', mode: 0o666 },
      { k: 'create', who: 1, dir: 't', name: 'b', mode: 0o666 },
      { k: 'unlink', who: 2, dir: 't', name: 'a' },
      { k: 'rename', who: 2, dir: 't', name: 'a', dir2: 't', name2: 'c', flags: 0 },
      { k: 'create', who: 2, dir: 't', name: 'c', mode: 0o666 },
      { k: 'rename', who: 2, dir: 't', name: 'c', dir2: 't', name2: 'a', flags: 0 },
      { k: 'unlink', who: 1, dir: 't', name: 'a' },
      { k: 'unlink', who: 0, dir: 't', name: 'b' },
    ],
    'setgid directory: children get its group, subdirs inherit the bit': [
      { k: 'chmod', who: 0, path: '', mode: 0o777 },
      { k: 'mkdir', who: 0, dir: '', name: 'g', mode: 0o777 },
      { k: 'chown', who: 0, path: 'g', gid: 3000 },
      { k: 'chmod', who: 0, path: 'g', mode: 0o2777 },
      { k: 'mkdir', who: 1, dir: 'g', name: 'd', mode: 0o755 },
      { k: 'create', who: 1, dir: 'g', name: 'f', mode: 0o2755 },
      { k: 'chown', who: 0, path: 'g', gid: 5 },
      { k: 'create', who: 2, dir: 'g', name: 'h', mode: 0o2755 },
      { k: 'create', who: 2, dir: 'g', name: 'i', mode: 0o2745 },
    ],
    'rename into own subtree, over non-empty dir, onto ancestor, NOREPLACE, EXCHANGE': [
      { k: 'mkdir', who: 0, dir: '', name: 'a', mode: 0o755 },
      { k: 'mkdir', who: 0, dir: 'a', name: 'b', mode: 0o755 },
      { k: 'mkdir', who: 0, dir: 'a/b', name: 'c', mode: 0o755 },
      { k: 'rename', who: 0, dir: '', name: 'a', dir2: 'a/b', name2: 'x', flags: 0 },
      { k: 'rename', who: 0, dir: '', name: 'a', dir2: 'a', name2: 'x', flags: 0 },
      { k: 'rename', who: 0, dir: 'a/b', name: 'c', dir2: '', name2: 'a', flags: 0 },
      { k: 'rename', who: 0, dir: 'a/b', name: 'c', dir2: 'a', name2: 'b', flags: 0 },
      { k: 'rename', who: 0, dir: 'a/b', name: 'c', dir2: 'a', name2: 'b', flags: 2 },
      { k: 'mkdir', who: 0, dir: '', name: 'b', mode: 0o755 },
      { k: 'rename', who: 0, dir: '', name: 'b', dir2: 'a', name2: 'b', flags: 1 },
      { k: 'rename', who: 0, dir: '', name: 'b', dir2: 'a', name2: 'b', flags: 0 },
      { k: 'create', who: 0, dir: '', name: 'f', mode: 0o644 },
      { k: 'rename', who: 0, dir: '', name: 'f', dir2: 'a', name2: 'b', flags: 0 },
      { k: 'rename', who: 0, dir: '', name: 'f', dir2: 'a', name2: 'b', flags: 2 },
      { k: 'rename', who: 0, dir: '', name: 'b', dir2: 'a/b', name2: 'c', flags: 0 },
      { k: 'rename', who: 0, dir: '', name: 'a', dir2: '', name2: 'a', flags: 3 },
    ],
    'hard links: nlink, directories refused, protected_hardlinks': [
      { k: 'chmod', who: 0, path: '', mode: 0o777 },
      { k: 'mkdir', who: 0, dir: '', name: 'd', mode: 0o777 },
      { k: 'create', who: 1, dir: '', name: 'f', mode: 0o644 },
      { k: 'link', who: 1, path: 'f', dir2: 'd', name2: 'g' },
      { k: 'link', who: 1, path: 'f', dir2: 'd', name2: 'h' },
      { k: 'link', who: 2, path: 'f', dir2: 'd', name2: 'i' },
      { k: 'link', who: 0, path: 'd', dir2: '', name2: 'e' },
      { k: 'unlink', who: 1, dir: '', name: 'f' },
      { k: 'link', who: 1, path: 'd/g', dir2: 'd', name2: 'h' },
    ],
    'chmod/chown/chgrp by non-owner and non-root; setuid cleared on chown and truncate': [
      { k: 'chmod', who: 0, path: '', mode: 0o777 },
      { k: 'create', who: 1, dir: '', name: 'f', mode: 0o6755 },
      { k: 'chmod', who: 2, path: 'f', mode: 0o777 },
      { k: 'chown', who: 1, path: 'f', uid: 1001 },
      { k: 'chown', who: 1, path: 'f', gid: 3000 },
      { k: 'chown', who: 1, path: 'f', gid: 0 },
      { k: 'chmod', who: 1, path: 'f', mode: 0o6777 },
      { k: 'truncate', who: 1, path: 'f', size: 10 },
      { k: 'chmod', who: 1, path: 'f', mode: 0o6777 },
      { k: 'chown', who: 0, path: 'f', uid: 1001 },
      { k: 'chmod', who: 0, path: 'f', mode: 0o2745 },
      { k: 'chown', who: 0, path: 'f', uid: 1000 },
      { k: 'chmod', who: 1, path: 'f', mode: 0o2755 },
    ],
    'permission checks: search permission, write permission, root and x bits': [
      { k: 'mkdir', who: 0, dir: '', name: 'd', mode: 0o700 },
      { k: 'create', who: 0, dir: 'd', name: 'f', mode: 0o644 },
      { k: 'create', who: 1, dir: 'd', name: 'g', mode: 0o644 },
      { k: 'unlink', who: 1, dir: 'd', name: 'f' },
      { k: 'chmod', who: 0, path: 'd', mode: 0o755 },
      { k: 'unlink', who: 1, dir: 'd', name: 'f' },
      { k: 'truncate', who: 1, path: 'd/f', size: 0 },
      { k: 'setxattr', who: 1, path: 'd/f', name: 'user.x', value: 'v', flags: 0 },
      { k: 'setxattr', who: 0, path: 'd/f', name: 'user.x', value: 'v', flags: 1 },
      { k: 'setxattr', who: 0, path: 'd/f', name: 'user.x', value: 'v', flags: 1 },
      { k: 'setxattr', who: 0, path: 'd/f', name: 'user.y', value: 'v', flags: 2 },
      { k: 'removexattr', who: 0, path: 'd/f', name: 'user.y' },
      { k: 'setxattr', who: 1, path: 'd/f', name: 'trusted.t', value: 'v', flags: 0 },
      { k: 'rmdir', who: 0, dir: '', name: 'd' },
      { k: 'unlink', who: 0, dir: '', name: 'd' },
      { k: 'rmdir', who: 0, dir: 'd', name: 'f' },
    ],
  };

  for (const [title, ops] of Object.entries(cases)) {
    it(title, async () => {
      const kernel = await kernelOracle.run(ops);
      const live = freshLive(false);
      expect(ops.map((op) => runAsClient(live, op))).toEqual(kernel.results);
      expect(normalizeSame(projectMetadata(live.md))).toEqual(normalizeSame(projectKernel(kernel)));
    });
  }
});

/**
 * Files of root's with setuid/setgid, group-executable or not, in a group bob is in (3000)
 * or not (0), each written, truncated or ftruncated once by bob (who 2); root's own write
 * keeps the bits.
 */
function privsCase(): KernelOp[] {
  const ops: KernelOp[] = [{ k: 'chmod', who: 0, path: '', mode: 0o777 }];
  const modes = [0o4777, 0o2777, 0o6777, 0o2775, 0o2767, 0o6767, 0o4767, 0o2765, 0o6765, 0o6775, 0o4755, 0o2757];
  const uses = ['write', 'truncate', 'ftruncate'] as const;
  for (const use of uses) {
    for (const mode of modes) {
      for (const gid of [0, 3000]) {
        const name = `${use}-${mode.toString(8)}-${gid}`;
        ops.push({ k: 'create', who: 0, dir: '', name, mode: 0o644 }, { k: 'chown', who: 0, path: name, gid }, { k: 'chmod', who: 0, path: name, mode });
        ops.push(use === 'write' ? { k: use, who: 2, path: name } : { k: use, who: 2, path: name, size: 1 });
      }
    }
  }
  ops.push({ k: 'create', who: 0, dir: '', name: 'by-root', mode: 0o6777 }, { k: 'write', who: 0, path: 'by-root' });
  return ops;
}

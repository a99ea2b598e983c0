import fc from 'fast-check';
import type { Cred } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import type { Metadata } from './metadata.js';
import { CREDS, type Op, SEED, freshLive, opArb, runOp } from './namespace-ops.test-helpers.js';

/**
 * A reference model of the namespace: a tree of plain objects, paths instead of inode
 * ids, every rule written out the slow, obvious way (nlink counted by walking the tree,
 * ancestry by following parents). Random op sequences with random creds must give the
 * same errno and the same tree in the model and in Namespace.
 */

interface MNode {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  target?: string;
  xattrs: Map<string, string>;
  children?: Map<string, MNode>;
  parent?: MNode;
}

class ModelError extends Error {
  constructor(readonly errno: string) {
    super(errno);
  }
}
const err = (errno: string): never => {
  throw new ModelError(errno);
};

const SUID = 0o4000;
const SGID = 0o2000;
const STICKY = 0o1000;
const XGRP = 0o010;

class Model {
  root: MNode = { type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, xattrs: new Map(), children: new Map() };
  trash: string[] = [];

  run(op: Op): string {
    try {
      this.exec(op);
      return 'ok';
    } catch (e) {
      if (e instanceof ModelError) return e.errno;
      throw e;
    }
  }

  resolve(path: string): MNode | undefined {
    let node: MNode | undefined = this.root;
    for (const part of path.split('/').filter(Boolean)) node = node?.children?.get(part);
    return node;
  }

  inGroup(cred: Cred, gid: number): boolean {
    return cred.gid === gid || cred.groups.includes(gid);
  }

  can(node: MNode, cred: Cred, mask: number): boolean {
    if (cred.uid === 0) return !(mask & 1) || node.type === 'dir' || (node.mode & 0o111) !== 0;
    const shift = cred.uid === node.uid ? 6 : this.inGroup(cred, node.gid) ? 3 : 0;
    return ((node.mode >> shift) & mask) === mask;
  }

  owns(node: MNode, cred: Cred): boolean {
    return cred.uid === 0 || cred.uid === node.uid;
  }

  /** The parent of a (parent, name) request: exists, is a dir, searchable. */
  dir(path: string, cred: Cred): MNode {
    const d = this.resolve(path) ?? err('ENOENT');
    if (d.type !== 'dir') err('ENOTDIR');
    if (!this.can(d, cred, 1)) err('EACCES');
    return d;
  }

  sticky(dir: MNode, victim: MNode, cred: Cred): boolean {
    return (dir.mode & STICKY) !== 0 && cred.uid !== 0 && cred.uid !== victim.uid && cred.uid !== dir.uid;
  }

  /** Every reference to `node` in the tree (its names). */
  names(node: MNode, at: MNode = this.root): number {
    let n = 0;
    for (const child of at.children?.values() ?? []) {
      if (child === node) n++;
      if (child.type === 'dir') n += this.names(node, child);
    }
    return n;
  }

  pathOf(dir: MNode, name: string): string {
    const parts = [name];
    for (let d = dir; d !== this.root; d = d.parent!) {
      for (const [n, c] of d.parent!.children!) if (c === d) parts.unshift(n);
    }
    return '/' + parts.join('/');
  }

  isAncestorOrSelf(a: MNode, d: MNode): boolean {
    for (let x: MNode | undefined = d; x; x = x.parent) if (x === a) return true;
    return false;
  }

  /** Removes dir/name; a file whose last name this was goes to trash (trashtime is always > 0 here). */
  remove(dir: MNode, name: string): void {
    const node = dir.children!.get(name)!;
    const path = this.pathOf(dir, name);
    dir.children!.delete(name);
    if (node.type === 'file' && this.names(node) === 0) this.trash.push(path);
  }

  add(dir: MNode, name: string, node: MNode): void {
    dir.children!.set(name, node);
    if (node.type === 'dir') node.parent = dir;
  }

  exec(op: Op): void {
    const cred = CREDS[op.who];
    switch (op.k) {
      case 'create':
      case 'mkdir':
      case 'symlink': {
        const d = this.dir(op.dir, cred);
        if (d.children!.has(op.name)) err('EEXIST');
        if (!this.can(d, cred, 3)) err('EACCES');
        const type = op.k === 'create' ? 'file' : op.k === 'mkdir' ? 'dir' : 'symlink';
        let mode = op.k === 'symlink' ? 0o777 : op.k === 'mkdir' ? op.mode & 0o1777 : op.mode & 0o7777;
        let gid = cred.gid;
        if (d.mode & SGID) {
          gid = d.gid;
          if (type === 'dir') mode |= SGID;
          else if ((mode & (SGID | XGRP)) === (SGID | XGRP) && cred.uid !== 0 && !this.inGroup(cred, gid)) mode &= ~SGID;
        }
        const node: MNode = { type, mode, uid: cred.uid, gid, size: 0, xattrs: new Map() };
        if (type === 'dir') node.children = new Map();
        if (op.k === 'symlink') {
          node.target = op.target;
          node.size = Buffer.byteLength(op.target);
        }
        this.add(d, op.name, node);
        return;
      }
      case 'unlink': {
        const d = this.dir(op.dir, cred);
        const victim = d.children!.get(op.name) ?? err('ENOENT');
        if (!this.can(d, cred, 3)) err('EACCES');
        if (this.sticky(d, victim, cred)) err('EPERM');
        if (victim.type === 'dir') err('EISDIR');
        this.remove(d, op.name);
        return;
      }
      case 'rmdir': {
        const d = this.dir(op.dir, cred);
        const victim = d.children!.get(op.name) ?? err('ENOENT');
        if (!this.can(d, cred, 3)) err('EACCES');
        if (this.sticky(d, victim, cred)) err('EPERM');
        if (victim.type !== 'dir') err('ENOTDIR');
        if (victim.children!.size > 0) err('ENOTEMPTY');
        this.remove(d, op.name);
        return;
      }
      case 'rename':
        return this.rename(op, cred);
      case 'link': {
        const src = this.resolve(op.path) ?? err('ENOENT');
        const d = this.dir(op.dir2, cred);
        if (d.children!.has(op.name2)) err('EEXIST');
        const safeSource =
          src.type === 'file' &&
          !(src.mode & SUID) &&
          (src.mode & (SGID | XGRP)) !== (SGID | XGRP) &&
          this.can(src, cred, 6);
        if (!this.owns(src, cred) && !safeSource) err('EPERM');
        if (!this.can(d, cred, 3)) err('EACCES');
        if (src.type === 'dir') err('EPERM');
        this.add(d, op.name2, src);
        return;
      }
      case 'chmod': {
        const node = this.resolve(op.path) ?? err('ENOENT');
        // chmod(2) by anyone but the owner or root, as on ext4 (a kill-priv notice is a
        // setattr marked as one: namespace.kernel.test.ts's writes send them).
        if (!this.owns(node, cred)) err('EPERM');
        node.mode = op.mode & 0o7777;
        if (cred.uid !== 0 && !this.inGroup(cred, node.gid)) node.mode &= ~SGID;
        return;
      }
      case 'chown': {
        const node = this.resolve(op.path) ?? err('ENOENT');
        const root = cred.uid === 0;
        if (op.uid !== undefined && !root && !(op.uid === node.uid && cred.uid === node.uid)) err('EPERM');
        if (
          op.gid !== undefined &&
          !root &&
          !(cred.uid === node.uid && (op.gid === node.gid || this.inGroup(cred, op.gid)))
        ) {
          err('EPERM');
        }
        if (node.type !== 'dir' && (op.uid !== undefined || op.gid !== undefined)) {
          node.mode &= ~SUID;
          if (node.mode & XGRP || (!root && !this.inGroup(cred, node.gid))) node.mode &= ~SGID;
        }
        if (op.uid !== undefined) node.uid = op.uid;
        if (op.gid !== undefined) node.gid = op.gid;
        return;
      }
      case 'truncate': {
        const node = this.resolve(op.path) ?? err('ENOENT');
        if (node.type === 'dir') err('EISDIR');
        if (node.type !== 'file') err('EINVAL');
        if (!this.can(node, cred, 2)) err('EACCES');
        if (cred.uid !== 0) {
          node.mode &= ~SUID;
          if (node.mode & XGRP || !this.inGroup(cred, node.gid)) node.mode &= ~SGID;
        }
        node.size = op.size;
        return;
      }
      case 'setxattr':
      case 'removexattr': {
        const node = this.resolve(op.path) ?? err('ENOENT');
        this.xattrWrite(node, cred, op.name);
        const exists = node.xattrs.has(op.name);
        if (op.k === 'removexattr') {
          if (!exists) err('ENODATA');
          node.xattrs.delete(op.name);
          return;
        }
        if (op.flags & 1 && exists) err('EEXIST');
        if (op.flags & 2 && !exists) err('ENODATA');
        node.xattrs.set(op.name, op.value);
        return;
      }
    }
  }

  xattrWrite(node: MNode, cred: Cred, name: string): void {
    const root = cred.uid === 0;
    if (name.startsWith('security.') || name.startsWith('trusted.')) {
      if (!root) err('EPERM');
      return;
    }
    if (node.type !== 'file' && node.type !== 'dir') err('EPERM');
    if (node.type === 'dir' && node.mode & STICKY && !this.owns(node, cred)) err('EPERM');
    if (!this.can(node, cred, 2)) err('EACCES');
  }

  rename(op: Extract<Op, { k: 'rename' }>, cred: Cred): void {
    if (op.flags === 3) err('EINVAL');
    const d1 = this.dir(op.dir, cred);
    const d2 = this.dir(op.dir2, cred);
    const src = d1.children!.get(op.name) ?? err('ENOENT');
    const dst = d2.children!.get(op.name2);
    const exchange = op.flags === 2;
    if (op.flags === 1 && dst) err('EEXIST');
    if (exchange && !dst) err('ENOENT');
    if (src.type === 'dir' && d1 !== d2 && this.isAncestorOrSelf(src, d2)) err('EINVAL');
    if (dst?.type === 'dir' && d1 !== d2 && this.isAncestorOrSelf(dst, d1)) err(exchange ? 'EINVAL' : 'ENOTEMPTY');
    if (src === dst) return;
    if (!this.can(d1, cred, 3)) err('EACCES');
    if (this.sticky(d1, src, cred)) err('EPERM');
    if (!dst) {
      if (!this.can(d2, cred, 3)) err('EACCES');
    } else {
      if (!this.can(d2, cred, 3)) err('EACCES');
      if (this.sticky(d2, dst, cred)) err('EPERM');
      if (!exchange && src.type === 'dir' && dst.type !== 'dir') err('ENOTDIR');
      if (!exchange && src.type !== 'dir' && dst.type === 'dir') err('EISDIR');
    }
    if (d1 !== d2) {
      if (src.type === 'dir' && !this.can(src, cred, 2)) err('EACCES');
      if (exchange && dst!.type === 'dir' && !this.can(dst!, cred, 2)) err('EACCES');
    }
    if (!exchange && dst?.type === 'dir' && dst.children!.size > 0) err('ENOTEMPTY');
    if (exchange) {
      d1.children!.delete(op.name);
      d2.children!.delete(op.name2);
      this.add(d1, op.name, dst!);
      this.add(d2, op.name2, src);
      return;
    }
    if (dst) this.remove(d2, op.name2);
    d1.children!.delete(op.name);
    this.add(d2, op.name2, src);
  }

  /** path → what a user can see of it; hard links share a `same` (their first path). */
  project(): Record<string, unknown> {
    const out: Record<string, Record<string, unknown>> = {};
    const first = new Map<MNode, string>();
    const walk = (dir: MNode, prefix: string): void => {
      for (const [name, node] of dir.children!) {
        const path = prefix + '/' + name;
        if (!first.has(node)) first.set(node, path);
        const nlink = node.type === 'dir' ? 2 + [...node.children!.values()].filter((c) => c.type === 'dir').length : this.names(node);
        out[path] = {
          type: node.type,
          mode: node.mode,
          uid: node.uid,
          gid: node.gid,
          size: node.type === 'dir' ? 0 : node.size,
          nlink,
          target: node.target ?? null,
          xattrs: [...node.xattrs],
          same: first.get(node),
        };
        if (node.type === 'dir') walk(node, path);
      }
    };
    walk(this.root, '');
    return { root: { mode: this.root.mode, uid: this.root.uid, gid: this.root.gid }, tree: out, trash: this.trash };
  }
}

function projectMetadata(md: Metadata): Record<string, unknown> {
  const out: Record<string, Record<string, unknown>> = {};
  const first = new Map<number, string>();
  const walk = (dir: number, prefix: string): void => {
    for (const [name, inode] of md.children.get(dir)!) {
      const path = prefix + '/' + name;
      if (!first.has(inode)) first.set(inode, path);
      const a = md.attr(inode);
      out[path] = {
        type: a.type,
        mode: a.mode,
        uid: a.uid,
        gid: a.gid,
        size: a.size,
        nlink: a.nlink,
        target: md.symlinkTarget.get(inode) ?? null,
        xattrs: [...(md.xattrs.get(inode) ?? [])].map(([n, v]) => [n, Buffer.from(v).toString()]),
        same: first.get(inode),
      };
      if (a.type === 'dir') walk(inode, path);
    }
  };
  walk(1, '');
  const root = md.attr(1);
  return {
    root: { mode: root.mode, uid: root.uid, gid: root.gid },
    tree: out,
    trash: [...md.trash.values()].map((k) => k.path),
  };
}

describe('Namespace against a reference model', () => {
  it('gives the same errno and the same tree for random op sequences with random creds', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 150, size: 'max' }), (ops) => {
        const live = freshLive();
        const model = new Model();
        for (const op of SEED) expect(model.run(op)).toBe('ok');
        for (const op of ops) {
          const expected = model.run(op);
          const got = runOp(live, op);
          if (got !== expected) throw new Error(`${JSON.stringify(op)}: model ${expected}, namespace ${got}`);
        }
        expect(projectMetadata(live.md)).toEqual(model.project());
      }),
      { numRuns: 500 },
    );
  });

  it('agrees step by step (state compared after every op)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), (ops) => {
        const live = freshLive();
        const model = new Model();
        for (const op of SEED) model.run(op);
        for (const op of ops) {
          expect(runOp(live, op)).toBe(model.run(op));
          expect(projectMetadata(live.md)).toEqual(model.project());
        }
      }),
      { numRuns: 150 },
    );
  });
});

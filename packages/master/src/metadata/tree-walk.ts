import { type Histogram, MAX_PATH_LENGTH, ROOT_INODE, fail } from '@tsmfs/protocol';
import { type Metadata, TYPE_CODE } from './metadata.js';

/**
 * Walking the tree down (recursive tools, snapshots) and up (paths), in loops whose
 * stack lives on the heap: a directory chain a million levels deep is as legal as a wide
 * tree (any user can build one with pipelined mkdirs), and a JavaScript recursion over
 * it would overflow the call stack in the middle of applying a mutation, which stops the
 * master. Every walk over the tree goes through `walkTree`; every path is built by
 * `keptPath` or `Metadata.dirPath`, both loops.
 */

/**
 * Called for each node of a walk with its name and its parent's context; returns the
 * context its own entries are visited with, or undefined to leave them out.
 */
export type TreeVisitor<C> = (inode: number, name: string, parentCtx: C) => C | undefined;

/**
 * Visits `root` (with `start.name` and `start.ctx` standing for its name and its parent's
 * context) and the tree below it in pre-order, each directory's entries in readdir
 * order: the order a recursion would take, so that replaying a changelog written by the
 * recursive code decides the same (snapshot ids are handed out in this order). The
 * iterators are live, as a recursion's for-of loops were: an entry added to a directory
 * not yet finished is met too.
 */
export function walkTree<C>(md: Metadata, root: number, visit: TreeVisitor<C>, start: { name: string; ctx: C }): void {
  const top = visit(root, start.name, start.ctx);
  if (top === undefined) return;
  // Two parallel stacks rather than frame objects: a million-level walk holds a million.
  const iterators: Iterator<[string, number]>[] = [];
  const contexts: C[] = [];
  const enter = (dir: number, ctx: C): void => {
    const entries = md.children.get(dir);
    if (entries === undefined || entries.size === 0) return;
    iterators.push(entries.entries());
    contexts.push(ctx);
  };
  enter(root, top);
  while (iterators.length > 0) {
    const step = iterators[iterators.length - 1]!.next();
    if (step.done) {
      iterators.pop();
      contexts.pop();
      continue;
    }
    const [name, child] = step.value;
    const ctx = visit(child, name, contexts[contexts.length - 1]!);
    if (ctx !== undefined) enter(child, ctx);
  }
}

/** `visit` on `root` and, when `recursive`, on every node below it. */
export function forEachNode(md: Metadata, root: number, recursive: boolean, visit: (inode: number) => void): void {
  walkTree(md, root, (inode) => (visit(inode), recursive ? true : undefined), { name: '', ctx: true });
}

/** getgoal / gettrashtime: files and directories counted by their value, ascending. */
export function histogram(md: Metadata, root: number, recursive: boolean, column: Uint8Array | Uint32Array): Histogram {
  const byValue = new Map<number, { value: number; files: number; dirs: number }>();
  forEachNode(md, root, recursive, (inode) => {
    const value = column[inode]!;
    let row = byValue.get(value);
    if (!row) byValue.set(value, (row = { value, files: 0, dirs: 0 }));
    if (md.type[inode] === TYPE_CODE.dir) row.dirs++;
    else row.files++;
  });
  return [...byValue.values()].sort((a, b) => a.value - b.value);
}

/**
 * setgoal / settrashtime's rule, the same for the top of a recursive call as for every
 * node under it (MooseFS's fsnodes_setgoal_recursive): a caller other than root changes
 * only what it owns; everything else counts as "permission denied".
 */
export function mayChangeGoal(md: Metadata, inode: number, uid: number): boolean {
  return uid === 0 || md.uid[inode] === uid;
}

/**
 * A snapshot with overwrite merges a directory into a directory and replaces a file's
 * contents; every pair of nodes meeting by name in the two trees must be one of those.
 */
export function checkSnapshotOverwrite(md: Metadata, src: number, dst: number): void {
  walkTree<number>(
    md,
    src,
    (node, name, parentDst) => {
      const existing = node === src ? parentDst : md.lookup(parentDst, name);
      if (existing === undefined) return undefined;
      if (node === existing) throw fail('EINVAL', 'snapshot onto itself');
      const type = md.type[node];
      // EPERM for a node meeting one of another type (a directory onto a file), as MooseFS 3.0's mfsmakesnapshot -o.
      if (type !== md.type[existing]) throw fail('EPERM', 'snapshot onto a node of another type');
      if (type !== TYPE_CODE.dir && type !== TYPE_CODE.file) throw fail('EEXIST');
      return type === TYPE_CODE.dir ? existing : undefined;
    },
    { name: '', ctx: dst },
  );
}

/**
 * The path kept for a trashed or sustained file: its absolute path while that fits in
 * PATH_MAX (4096 bytes, what any process can name, and the wire's limit for a trash
 * entry). A deeper one keeps its last components that fit and no leading '/', as MooseFS
 * cuts its trash paths (to MFS_PATH_MAX, from the front): a trash listing stays small
 * whatever the depth, and undelete can tell the path cannot be followed back (it
 * answers ENAMETOOLONG). The walk up stops once the limit is passed: O(PATH_MAX), not
 * O(depth).
 */
export function keptPath(md: Metadata, dir: number, name: string): string {
  const names = [name];
  // UTF-16 units: a lower bound of the UTF-8 bytes (and a third of their upper bound).
  let units = 1 + name.length;
  let d = dir;
  for (; d !== ROOT_INODE && units <= MAX_PATH_LENGTH; d = md.parent[d]!) {
    const part = md.dirName.get(d);
    if (part === undefined) throw new Error(`directory ${d} is not linked`);
    names.push(part);
    units += 1 + part.length;
  }
  const whole = d === ROOT_INODE;
  if (whole && units * 3 <= MAX_PATH_LENGTH) return '/' + names.reverse().join('/');
  return tailThatFits(names, whole);
}

/** The last components (`names` is leaf first) that fit in PATH_MAX bytes; absolute only when all do. */
function tailThatFits(names: string[], whole: boolean): string {
  let bytes = 0;
  let n = 0;
  for (; n < names.length; n++) {
    const more = 1 + Buffer.byteLength(names[n]!);
    if (bytes + more > MAX_PATH_LENGTH) break;
    bytes += more;
  }
  const tail = names.slice(0, n).reverse().join('/');
  return whole && n === names.length ? '/' + tail : tail;
}

/** Was this kept path cut by `keptPath` (so it cannot be resolved again)? */
export function isCutPath(path: string): boolean {
  return !path.startsWith('/');
}

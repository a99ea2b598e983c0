import { type RecursiveCounts, type Reply, type Request, type Timespec, fail } from '@tsmfs/protocol';
import { isSnapshotNode, mayChangeEattr } from './eattr.js';
import type { Mutation } from './mutation.js';
import type { Namespace } from './namespace.js';
import { histogram, walkTree } from './tree-walk.js';

/**
 * The requests of MooseFS's extra attributes: seteattr (deleattr and copyeattr are
 * seteattr with other masks), geteattr, and rmsnapshot, which removes only what
 * makesnapshot marked. The refusals the flags make elsewhere are eattr.ts's, called by
 * the namespace.
 */
export class EattrRequests {
  constructor(
    private readonly ns: Namespace,
    private readonly commit: (m: Mutation) => RecursiveCounts | undefined,
    private readonly clock: () => Timespec,
  ) {}

  /** `admin`: the session's export has `admin` (the admin-only flags need it, and root). */
  seteattr(req: Request<'seteattr'>, admin: boolean): Reply<'seteattr'> {
    const md = this.ns.md;
    if (!md.isLinked(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    const now = md.eattr[req.inode]!;
    const touched = ((now & ~req.clear) | req.set) ^ now;
    // Alone, a refused node is an error; in a recursive call it is counted like any other.
    if (!req.recursive && !mayChangeEattr(md, req.inode, req.cred.uid, admin, touched)) throw fail('EPERM');
    const m: Mutation = { op: 'seteattr', ts: this.clock(), inode: req.inode, set: req.set, clear: req.clear, recursive: req.recursive, uid: req.cred.uid, admin };
    return this.commit(m)!;
  }

  geteattr(req: Request<'geteattr'>): Reply<'geteattr'> {
    const md = this.ns.md;
    if (!md.exists(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    return { histogram: histogram(md, req.inode, req.recursive, md.eattr) };
  }

  /**
   * mfsrmsnapshot: removes `name` in `parent` and the tree under it, as `rm -r` by the
   * caller would (every name checked as unlink/rmdir check it, the trash as usual), but
   * only nodes marked `snapshot`. Without `force` one unmarked node anywhere refuses the
   * whole (EPERM, nothing removed); with it the unmarked ones stay, and so do the
   * directories they keep from being empty and whatever the caller may not remove.
   */
  rmsnapshot(req: Request<'rmsnapshot'>): Reply<'rmsnapshot'> {
    const { ns } = this;
    const md = ns.md;
    if (req.name === '.' || req.name === '..') throw fail('EINVAL');
    const top = ns.lookup({ cred: req.cred, parent: req.parent, name: req.name }).attr.inode;
    // Pre-order (dir, name, node); reversed, every node comes after everything under it.
    const nodes: [number, string, number][] = [];
    walkTree<number>(md, top, (inode, name, dir) => (nodes.push([dir, name, inode]), md.isDir(inode) ? inode : undefined), { name: req.name, ctx: req.parent });
    if (!req.force) {
      const unmarked = nodes.find(([, , inode]) => !isSnapshotNode(md, inode));
      if (unmarked) throw fail('EPERM', `${unmarked[1]} is not part of a snapshot (-f removes only what is)`);
    }
    // The marks as they are now: each removal takes its directory's mark (apply.ts, touchDir).
    const marked = new Set(nodes.filter(([, , inode]) => isSnapshotNode(md, inode)).map(([, , inode]) => inode));
    let removed = 0;
    let kept = 0;
    for (const [dir, name, inode] of nodes.reverse()) {
      if (!marked.has(inode)) {
        kept++;
        continue;
      }
      try {
        if (md.isDir(inode)) ns.rmdir({ cred: req.cred, parent: dir, name });
        else ns.unlink({ cred: req.cred, parent: dir, name });
        removed++;
      } catch (err) {
        if (!req.force) throw err;
        kept++;
      }
    }
    return { removed, kept };
  }
}

import { type InodeRole, ROOT_INODE, Status, TsmfsError } from '@tsmfs/protocol';
import { relativeTo } from './metadata/file-paths.js';
import type { Metadata } from './metadata/metadata.js';
import type { Session } from './sessions.js';

/** Subfolder export roots whose verdicts are cached at once; beyond, the oldest is dropped. */
const MAX_CACHED_ROOTS = 64;

/** The verdicts for one export root, valid while no directory has moved (Metadata.dirMoves). */
interface Verdicts {
  dirMoves: number;
  /** Directory inode → whether it lies under the root. */
  inside: Map<number, boolean>;
}

/**
 * Whether an inode a client names lies inside its session's export, as MooseFS's
 * fsnodes_isancestor decides in every namespace call: a node is inside when the export's
 * root is the node or one of its ancestors (for a hard-linked file: of any of its names).
 * A session of the whole tree pays nothing. Others walk up the directory chain, iteratively,
 * and remember the verdict of every directory on the way, so that a request deep in a
 * tree a million levels deep costs a lookup, not a walk; the verdicts are dropped
 * whenever a directory leaves a parent (rename, rmdir), the only way ancestry changes.
 * Answers: EPERM for a node outside (as MooseFS), ENOENT for one that does not exist or
 * has no name left (trash, sustained): docs/security.md, "Exports confine sessions".
 */
export class ExportScope {
  private readonly roots = new Map<number, Verdicts>();
  private md: Metadata | undefined;

  constructor(private readonly metadata: () => Metadata) {}

  /** Whether requests of `session` are checked at all: not for a session of the whole file system. */
  static confines(session: Session): boolean {
    return session.meta || session.root !== ROOT_INODE;
  }

  /** Throws unless `session` may name `inode` in a field of role `role` (messages.ts). */
  check(session: Session, inode: number, role: InodeRole): void {
    const md = this.metadata();
    if (session.meta) return checkKept(md, inode);
    if (role === 'handle' && session.opens.has(inode)) return;
    if (role === 'kept' && !md.isLinked(inode)) return this.checkRemoved(md, session.root, inode);
    if (!md.isLinked(inode)) throw new TsmfsError(Status.ENOENT, `inode ${inode}`);
    if (!this.inside(md, session.root, inode)) throw new TsmfsError(Status.EPERM, `inode ${inode} is outside the session's export`);
  }

  /** A trashed or sustained file is inside when the path it was removed from is. */
  private checkRemoved(md: Metadata, root: number, inode: number): void {
    const kept = md.trash.get(inode) ?? md.sustained.get(inode);
    if (!kept || !md.exists(inode)) throw new TsmfsError(Status.ENOENT, `inode ${inode}`);
    if (relativeTo(md.dirPath(root), kept.path) === undefined) throw new TsmfsError(Status.EPERM, `inode ${inode} was removed outside the session's export`);
  }

  private inside(md: Metadata, root: number, inode: number): boolean {
    if (inode === root) return true;
    if (md.isDir(inode)) return this.dirInside(md, root, inode);
    for (const dir of md.parents(inode)) if (this.dirInside(md, root, dir)) return true;
    return false;
  }

  /** Walks up from `dir` to the first directory with a verdict, the root, or the top; records the verdict on the way. */
  private dirInside(md: Metadata, root: number, dir: number): boolean {
    const known = this.verdicts(md, root).inside;
    const walked: number[] = [];
    let verdict: boolean | undefined;
    // Bounded by the inode count: a cycle in the parents would be broken metadata, not a reason to hang.
    for (let d = dir, steps = 0; verdict === undefined; d = md.parent[d]!, steps++) {
      if (d === root) verdict = true;
      else if (d === 0 || d === ROOT_INODE || steps > md.inodeCount) verdict = false;
      else {
        verdict = known.get(d);
        if (verdict === undefined) walked.push(d);
      }
    }
    for (const d of walked) known.set(d, verdict);
    return verdict;
  }

  private verdicts(md: Metadata, root: number): Verdicts {
    if (this.md !== md) {
      // Another metadata (a test's, a reload): nothing known applies to it.
      this.roots.clear();
      this.md = md;
    }
    let v = this.roots.get(root);
    if (v && v.dirMoves === md.dirMoves) return v;
    this.roots.delete(root);
    if (this.roots.size >= MAX_CACHED_ROOTS) this.roots.delete(this.roots.keys().next().value!);
    v = { dirMoves: md.dirMoves, inside: new Map() };
    this.roots.set(root, v);
    return v;
  }
}

/** A meta session (trash and sustained files, `mount -m`) names only those files, as MooseFS's rootinode 0. */
function checkKept(md: Metadata, inode: number): void {
  if (!md.exists(inode)) throw new TsmfsError(Status.ENOENT, `inode ${inode}`);
  if (!md.trash.has(inode) && !md.sustained.has(inode)) {
    throw new TsmfsError(Status.EPERM, `inode ${inode} is neither in trash nor sustained`);
  }
}

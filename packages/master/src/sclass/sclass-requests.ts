import { type Cred, type RecursiveCounts, type Reply, type Request, type Timespec, fail } from '@tsmfs/protocol';
import type { Metadata } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import { histogram, mayChangeGoal } from '../metadata/tree-walk.js';
import { mooseLabelExpr, parseLabelExpr } from './label-expr.js';
import { archiveState, nodesByClass } from './sclass-apply.js';
import { MAX_SCLASS_NAME, PREDEFINED, type SClassDef } from './sclass-table.js';

/** What the session asking may do: its export's `admin` option and its goal bounds (mingoal/maxgoal). */
export interface SClassRights {
  admin: boolean;
  minGoal: number;
  maxGoal: number;
}

/**
 * mfsscadmin's requests (create, change, delete, copy, rename, list) and setsclass /
 * getsclass. Changing a class takes the export's `admin` option and a caller that is root
 * after the export's mapping (as quotas do). The predefined classes 1–9 change only with
 * `force` and are never deleted nor renamed (mfsscadmin(1), "PREDEFINED STORAGE CLASSES").
 */
export class SClassRequests {
  constructor(
    private readonly md: Metadata,
    private readonly commit: (m: Mutation) => RecursiveCounts | undefined,
    private readonly clock: () => Timespec,
  ) {}

  create(rights: SClassRights, req: Request<'sclassCreate'>): Reply<'sclassCreate'> {
    mayAdminister(rights, req.cred);
    const name = checkName(req.name);
    if (this.md.sclasses.byName(name) !== undefined) throw fail('EEXIST', `storage class '${name}' exists`);
    const id = this.md.sclasses.freeId();
    if (id === undefined) throw fail('ENOSPC', 'no storage class id left');
    const { cred: _cred, name: _name, ...fields } = req;
    // Without create labels a class is made with keep's, as MooseFS does: a later change of
    // the keep labels leaves them as they were.
    this.define(id, { name, ...fields, create: fields.create === '' ? fields.keep : fields.create });
    return {};
  }

  change(rights: SClassRights, req: Request<'sclassChange'>): Reply<'sclassChange'> {
    mayAdminister(rights, req.cred);
    const id = this.existing(req.name);
    if (id <= PREDEFINED && !req.force) throw fail('EPERM', `storage class '${req.name}' is predefined: change it with -f`);
    const old = this.md.sclasses.get(id)!;
    const next: SClassDef = { ...old };
    if (req.adminOnly !== undefined) next.adminOnly = req.adminOnly;
    if (req.mode !== undefined) next.mode = req.mode;
    if (req.create !== undefined) next.create = req.create;
    if (req.keep !== undefined) next.keep = req.keep;
    if (req.archive !== undefined) next.archive = req.archive;
    if (req.archiveDelay !== undefined) next.archiveDelay = req.archiveDelay;
    this.define(id, next);
    return {};
  }

  delete(rights: SClassRights, req: Request<'sclassDelete'>): Reply<'sclassDelete'> {
    mayAdminister(rights, req.cred);
    const id = this.existing(req.name);
    if (id <= PREDEFINED) throw fail('EPERM', `storage class '${req.name}' is predefined: it cannot be deleted`);
    if (nodesByClass(this.md).has(id)) throw fail('EBUSY', `storage class '${req.name}' is in use`);
    this.commit({ op: 'sclass', ts: this.clock(), id, def: null });
    return {};
  }

  copy(rights: SClassRights, req: Request<'sclassCopy'>): Reply<'sclassCopy'> {
    mayAdminister(rights, req.cred);
    const src = this.md.sclasses.get(this.existing(req.src))!;
    return this.create(rights, { cred: req.cred, ...src, name: req.dst });
  }

  rename(rights: SClassRights, req: Request<'sclassRename'>): Reply<'sclassRename'> {
    mayAdminister(rights, req.cred);
    const id = this.existing(req.src);
    if (id <= PREDEFINED) throw fail('EPERM', `storage class '${req.src}' is predefined: it cannot be renamed`);
    const name = checkName(req.dst);
    if (this.md.sclasses.byName(name) !== undefined) throw fail('EEXIST', `storage class '${name}' exists`);
    this.commit({ op: 'sclass', ts: this.clock(), id, def: { ...this.md.sclasses.get(id)!, name } });
    return {};
  }

  /**
   * Every class with its use; labels expressions in MooseFS's printed form (mooseLabelExpr),
   * create and archive filled in with keep's when the class has none of its own.
   */
  list(): Reply<'sclassList'> {
    const used = nodesByClass(this.md);
    const classes = this.md.sclasses.ids().map((id) => {
      const def = this.md.sclasses.get(id)!;
      const rules = this.md.sclasses.rules(id);
      const shown = { create: mooseLabelExpr(rules.create), keep: mooseLabelExpr(rules.keep), archive: mooseLabelExpr(rules.archive) };
      return { id, ...def, ...shown, files: used.get(id)?.files ?? 0, dirs: used.get(id)?.dirs ?? 0 };
    });
    return { classes };
  }

  /** setsclass and xchgsclass (`from`). */
  setsclass(rights: SClassRights, req: Request<'setsclass'>): Reply<'setsclass'> {
    const md = this.md;
    if (!md.isLinked(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    const id = this.existing(req.name);
    const def = md.sclasses.get(id)!;
    if (def.adminOnly && !rights.admin) throw fail('EPERM', `storage class '${req.name}' is for admin sessions only`);
    const copies = md.sclasses.copies(id);
    // MooseFS 3.0 refuses a class whose copies lie outside the export's mingoal..maxgoal.
    if (copies < rights.minGoal || copies > rights.maxGoal) throw fail('EPERM', `storage class '${req.name}' keeps ${copies} copies: outside this export's goals ${rights.minGoal}-${rights.maxGoal}`);
    const from = req.from === undefined ? undefined : this.existing(req.from);
    // Alone, a refused node is an error; in a recursive call it is counted like any other.
    if (!req.recursive && !mayChangeGoal(md, req.inode, req.cred.uid)) throw fail('EPERM');
    const m: Extract<Mutation, { op: 'setsclass' }> = { op: 'setsclass', ts: this.clock(), inode: req.inode, id, recursive: req.recursive, uid: req.cred.uid };
    if (from !== undefined) m.from = from;
    return this.commit(m)!;
  }

  getsclass(req: Request<'getsclass'>): Reply<'getsclass'> {
    const md = this.md;
    if (!md.exists(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    const rows = histogram(md, req.inode, req.recursive, md.goal);
    return { histogram: rows.map((h) => ({ id: h.value, name: md.sclasses.get(h.value)?.name ?? String(h.value), files: h.files, dirs: h.dirs })) };
  }

  /** setarchive (`on`) / clrarchive: the files of the node's tree; the owner or root per file. */
  archive(req: Request<'archive'>): Reply<'archive'> {
    if (!this.md.isLinked(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    return this.commit({ op: 'archive', ts: this.clock(), inode: req.inode, on: req.on, uid: req.cred.uid })!;
  }

  chkarchive(req: Request<'chkarchive'>): Reply<'chkarchive'> {
    if (!this.md.exists(req.inode)) throw fail('ENOENT', `inode ${req.inode}`);
    return archiveState(this.md, req.inode, this.clock().sec);
  }

  private existing(name: string): number {
    const id = this.md.sclasses.byName(name);
    if (id === undefined) throw fail('ENOENT', `no storage class '${name}'`);
    return id;
  }

  /** Checks the definition (every expression parses; -A needs -d) and logs it. */
  private define(id: number, def: SClassDef): void {
    const clean: SClassDef = { ...def, create: tidy(def.create), keep: tidy(def.keep), archive: tidy(def.archive) };
    if (clean.keep === '') throw fail('EINVAL', 'keep labels (-K) are required');
    for (const expr of [clean.create, clean.keep, clean.archive]) if (expr !== '') parseLabelExpr(expr);
    if (clean.archive !== '' && clean.archiveDelay === 0) throw fail('EINVAL', 'archive labels (-A) need an archive delay (-d)');
    this.commit({ op: 'sclass', ts: this.clock(), id, def: clean });
  }
}

function mayAdminister(rights: SClassRights, cred: Cred): void {
  if (!rights.admin) throw fail('EPERM', "changing storage classes needs the export's admin option");
  if (cred.uid !== 0) throw fail('EPERM', 'only root may change storage classes');
}

function checkName(name: string): string {
  if (name === '' || Buffer.byteLength(name) > MAX_SCLASS_NAME || /[\x00-\x1f\x7f/]/.test(name)) throw fail('EINVAL', `bad storage class name '${name}'`);
  return name;
}

/** Expressions are stored as typed, without spaces and in upper case. */
function tidy(expr: string): string {
  return expr.replace(/\s+/g, '').toUpperCase();
}

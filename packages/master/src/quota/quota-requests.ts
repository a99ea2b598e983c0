import { type Cred, type QuotaInfo, type Reply, type Request, type Timespec, fail } from '@tsmfs/protocol';
import type { Metadata } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import { DEFAULT_QUOTA_GRACE, QUOTA_KINDS, type QuotaLimits, type QuotaValues, hasLimits } from './quota-table.js';
import { subtreeUsage } from './quota-usage.js';

/**
 * getquota / setquota / delquota (MooseFS's fs_quotacontrol). Only a directory has a
 * quota. Changing one takes the export's `admin` option, as in MooseFS, and — doing better
 * than MooseFS 3.0, where any user of an admin export may raise their own limits — a
 * caller that is root after the export's mapping.
 */
export class QuotaEntries {
  /** Grace period in seconds of a quota whose own is 0, "default" (QUOTA_DEFAULT_GRACE_PERIOD; set by the master). */
  defaultGrace = DEFAULT_QUOTA_GRACE;

  constructor(
    private readonly md: Metadata,
    private readonly commit: (m: Mutation) => void,
    private readonly clock: () => Timespec,
  ) {}

  get(req: Request<'getquota'>): Reply<'getquota'> {
    return this.info(this.directory(req.inode));
  }

  set(admin: boolean, req: Request<'setquota'>): Reply<'setquota'> {
    const dir = this.changeable(admin, req.cred, req.inode);
    const old = this.md.quotas.get(dir);
    // Without -p a quota keeps its grace period; a new one takes the default (0: whatever
    // QUOTA_DEFAULT_GRACE_PERIOD says when it is checked), as mfssetquota does.
    const limits: QuotaLimits = {
      grace: req.grace ?? old?.grace ?? 0,
      soft: { ...old?.soft, ...defined(req.soft) },
      hard: { ...old?.hard, ...defined(req.hard) },
    };
    this.commit({ op: 'quota', ts: this.clock(), inode: dir, limits: hasLimits(limits) ? limits : null });
    return this.info(dir);
  }

  del(admin: boolean, req: Request<'delquota'>): Reply<'delquota'> {
    const dir = this.changeable(admin, req.cred, req.inode);
    const old = this.md.quotas.get(dir);
    if (!old) throw fail('ENOENT', 'no quota on this directory');
    const soft = { ...old.soft };
    const hard = { ...old.hard };
    for (const k of req.soft) delete soft[k];
    for (const k of req.hard) delete hard[k];
    const limits: QuotaLimits = { grace: old.grace, soft, hard };
    this.commit({ op: 'quota', ts: this.clock(), inode: dir, limits: hasLimits(limits) ? limits : null });
    return this.info(dir);
  }

  private info(dir: number): QuotaInfo {
    const q = this.md.quotas.get(dir);
    if (!q) return { usage: subtreeUsage(this.md, dir, false) };
    const quota: NonNullable<QuotaInfo['quota']> = { grace: q.grace, soft: { ...q.soft }, hard: { ...q.hard } };
    if (q.softSince !== undefined) quota.softSince = q.softSince;
    return { quota, usage: { ...q.usage } };
  }

  private directory(inode: number): number {
    if (!this.md.isLinked(inode)) throw fail('ENOENT', `inode ${inode}`);
    // MooseFS answers EPERM for a file ("Operation not permitted").
    if (!this.md.isDir(inode)) throw fail('EPERM', 'a quota is set on a directory only');
    return inode;
  }

  private changeable(admin: boolean, cred: Cred, inode: number): number {
    const dir = this.directory(inode);
    if (!admin) throw fail('EPERM', "changing quotas needs the export's admin option");
    if (cred.uid !== 0) throw fail('EPERM', 'only root may change quotas');
    return dir;
  }
}

function defined(values: QuotaValues): QuotaValues {
  const out: QuotaValues = {};
  for (const k of QUOTA_KINDS) if (values[k] !== undefined) out[k] = values[k];
  return out;
}

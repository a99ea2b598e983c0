import type { MasterSession } from '@tsmfs/client';
import type {
  Attr as KernelAttr,
  AttrResult,
  DirEntry as KernelDirEntry,
  EntryResult,
  GetattrArgs,
  LookupArgs,
  LowLevelOps,
  OpenArgs,
  OpendirArgs,
  OpenResult,
  ReadArgs,
  ReaddirArgs,
  ReleasedirArgs,
  RenameArgs,
  RequestContext,
  StatfsResult,
  UnlinkArgs,
} from '@tsmfs/fuse';
import { type TrashEntry, fail } from '@tsmfs/protocol';
import type { HiddenEntries } from './hidden-entries.js';
import { kernelAttr, kernelDirEntry, InodeMap } from './kernel-attr.js';

/** MooseFS's inode numbers of the meta file system's directories. */
export const META_TRASH_INODE = 0x7ffffffe;
export const META_UNDEL_INODE = 0x7ffffffd;
export const META_SUSTAINED_INODE = 0x7ffffffc;

const LIST_TTL_MS = 1000;

/**
 * The name MooseFS's meta mount gives a trash or sustained file: its inode as 8 upper-case
 * hex digits, '|', then its path without the leading '/' and with every '/' shown as '|'
 * (a name cannot hold '/'), cut to 255 bytes.
 */
export function metaName(e: TrashEntry): string {
  const name = `${e.inode.toString(16).toUpperCase().padStart(8, '0')}|${e.path.replace(/^\/+/, '').replaceAll('/', '|')}`;
  const bytes = Buffer.from(name);
  return bytes.length <= 255 ? name : bytes.subarray(0, 255).toString('utf8').replace(/\uFFFD+$/, '');
}

/** The inode a meta name starts with, or undefined. */
export function metaInode(name: string): number | undefined {
  const m = /^([0-9A-F]{8})\|/.exec(name);
  return m ? parseInt(m[1]!, 16) : undefined;
}

/**
 * The meta mount (`-m`), as `mfsmount -m`: `trash/` lists removed files kept for their
 * trashtime, `trash/undel/` restores the one moved into it, unlinking one in `trash/`
 * purges it at once, `sustained/` lists files removed while still open. File contents
 * are not served. Every change is the master's (trashUndelete, trashPurge).
 */
export class MetaOps implements LowLevelOps {
  private lists = new Map<number, { at: number; entries: Promise<TrashEntry[]> }>();
  private readonly dirs = new Map<number, KernelDirEntry[]>();
  private readonly started = nowSpec();
  private nextFh = 1;

  constructor(
    private readonly session: MasterSession,
    private readonly hidden: HiddenEntries,
    private readonly timeoutSec: number,
  ) {}

  async lookup(_ctx: RequestContext, { parent, name }: LookupArgs): Promise<EntryResult> {
    if (parent === 1) {
      const h = this.hidden.inodeOf(name);
      if (h !== undefined) return this.entry(this.hidden.attr(h));
      if (name === 'trash') return this.entry(this.dirAttr(META_TRASH_INODE));
      if (name === 'sustained') return this.entry(this.dirAttr(META_SUSTAINED_INODE));
      throw fail('ENOENT');
    }
    if (parent === META_TRASH_INODE && name === 'undel') return this.entry(this.dirAttr(META_UNDEL_INODE));
    if (parent !== META_TRASH_INODE && parent !== META_SUSTAINED_INODE) throw fail('ENOENT');
    // A name not in the cached listing may be newer than it: ask the master again.
    const e = (await this.list(parent)).find((x) => metaName(x) === name) ?? (await this.list(parent, true)).find((x) => metaName(x) === name);
    if (!e) throw fail('ENOENT');
    return this.entry(await this.fileAttr(e));
  }

  async getattr(_ctx: RequestContext, { ino }: GetattrArgs): Promise<AttrResult> {
    if (this.hidden.isHidden(ino)) return { attr: this.hidden.attr(ino), timeout: 0 };
    if (ino === 1 || ino === META_TRASH_INODE || ino === META_UNDEL_INODE || ino === META_SUSTAINED_INODE) {
      return { attr: this.dirAttr(ino), timeout: this.timeoutSec };
    }
    for (const dir of [META_TRASH_INODE, META_SUSTAINED_INODE]) {
      const e = (await this.list(dir)).find((x) => x.inode === ino);
      if (e) return { attr: await this.fileAttr(e), timeout: this.timeoutSec };
    }
    throw fail('ENOENT');
  }

  async opendir(_ctx: RequestContext, { ino }: OpendirArgs): Promise<OpenResult> {
    const entries: KernelDirEntry[] = [kernelDirEntry('.', ino, 'dir', 1)];
    const add = (name: string, inode: number, type: 'dir' | 'file') => entries.push(kernelDirEntry(name, inode, type, entries.length + 1));
    if (ino === 1) {
      add('..', 1, 'dir');
      add('trash', META_TRASH_INODE, 'dir');
      add('sustained', META_SUSTAINED_INODE, 'dir');
    } else if (ino === META_UNDEL_INODE) {
      add('..', META_TRASH_INODE, 'dir');
    } else if (ino === META_TRASH_INODE || ino === META_SUSTAINED_INODE) {
      add('..', 1, 'dir');
      if (ino === META_TRASH_INODE) add('undel', META_UNDEL_INODE, 'dir');
      this.lists.delete(ino); // a fresh listing for every opendir
      for (const e of await this.list(ino)) add(metaName(e), e.inode, 'file');
    } else throw fail('ENOTDIR');
    const fh = this.nextFh++;
    this.dirs.set(fh, entries);
    return { fh };
  }

  readdir(_ctx: RequestContext, { size, offset, fh }: ReaddirArgs): KernelDirEntry[] {
    const entries = this.dirs.get(fh) ?? [];
    return entries.slice(offset, offset + Math.floor(size / 32) + 1);
  }

  releasedir(_ctx: RequestContext, { fh }: ReleasedirArgs): void {
    this.dirs.delete(fh);
  }

  /** Moving a trash file into trash/undel restores it under its original path. */
  async rename(_ctx: RequestContext, { parent, name, newParent, flags }: RenameArgs): Promise<void> {
    if (flags !== 0) throw fail('EINVAL', 'rename flags in the meta mount');
    if (parent !== META_TRASH_INODE || newParent !== META_UNDEL_INODE) throw fail('EPERM', 'only trash → trash/undel');
    const inode = metaInode(name);
    if (inode === undefined) throw fail('ENOENT');
    await this.session.trashUndelete(inode);
    this.lists.clear();
  }

  /** Unlinking a trash file purges it now. */
  async unlink(_ctx: RequestContext, { parent, name }: UnlinkArgs): Promise<void> {
    if (parent !== META_TRASH_INODE) throw fail('EPERM');
    const inode = metaInode(name);
    if (inode === undefined) throw fail('ENOENT');
    await this.session.trashPurge(inode);
    this.lists.clear();
  }

  open(_ctx: RequestContext, { ino, flags }: OpenArgs): OpenResult {
    if (!this.hidden.isHidden(ino) || (flags & 3) !== 0) throw fail('EACCES', 'file contents are not served by the meta mount');
    return { fh: 0, directIo: true };
  }

  read(_ctx: RequestContext, { ino, size, offset }: ReadArgs): Buffer {
    const data = this.hidden.content(ino);
    return data.subarray(Math.min(offset, data.length), Math.min(offset + size, data.length));
  }

  async statfs(): Promise<StatfsResult> {
    const s = await this.session.statfs();
    return { bsize: 65536, blocks: Math.floor((s.trashSpace + s.sustainedSpace) / 65536), bfree: 0, bavail: 0, files: s.inodes, ffree: 0, namemax: 255 };
  }

  private list(dir: number, fresh = false): Promise<TrashEntry[]> {
    const cached = this.lists.get(dir);
    if (cached && !fresh && Date.now() - cached.at < LIST_TTL_MS) return cached.entries;
    const entries = dir === META_TRASH_INODE ? this.session.trashList() : this.session.sustainedList();
    entries.catch(() => this.lists.delete(dir));
    this.lists.set(dir, { at: Date.now(), entries });
    return entries;
  }

  private async fileAttr(e: TrashEntry): Promise<KernelAttr> {
    try {
      return kernelAttr(await this.session.getattr(e.inode), new InodeMap(1));
    } catch {
      const t = { sec: e.deletedAt, nsec: 0 };
      return { ino: e.inode, mode: 0o100000, nlink: 1, uid: 0, gid: 0, size: e.size, atime: t, mtime: t, ctime: t };
    }
  }

  private dirAttr(ino: number): KernelAttr {
    const mode = ino === META_UNDEL_INODE ? 0o040700 : 0o040755;
    return { ino, mode, nlink: 2, uid: 0, gid: 0, size: 0, atime: this.started, mtime: this.started, ctime: this.started };
  }

  private entry(attr: KernelAttr): EntryResult {
    return { attr, entryTimeout: 0, attrTimeout: 0 };
  }
}

function nowSpec(): { sec: number; nsec: number } {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
}

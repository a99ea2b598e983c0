import type { Attr as KernelAttr } from '@tsmfs/fuse';
import { MASTERINFO_NAME, type MasterInfo, encodeMasterInfo } from '@tsmfs/protocol';

/** MooseFS's special inode numbers, far above what the master hands out. */
export const MASTERINFO_INODE = 0x7fffffff;
export const STATS_INODE = 0x7ffffff0;

export { MASTERINFO_NAME };
export type { MasterInfo };
export const STATS_NAME = '.stats';

/**
 * The entries of the mount root that are not in the master's namespace: `.masterinfo`
 * (how the CLI tools find the master and this session: they walk up from a path until a
 * directory has it) and `.stats` (this mount's counters). Read-only, hidden from readdir,
 * found by lookup in the root only. Their content is made when opened, so its size is
 * whatever it is then; they are opened with direct_io so the kernel reads to the end.
 */
export class HiddenEntries {
  private readonly mountTime = nowSpec();

  constructor(
    private readonly masterInfo: () => MasterInfo,
    private readonly stats: () => string,
  ) {}

  inodeOf(name: string): number | undefined {
    if (name === MASTERINFO_NAME) return MASTERINFO_INODE;
    if (name === STATS_NAME) return STATS_INODE;
    return undefined;
  }

  isHidden(ino: number): boolean {
    return ino === MASTERINFO_INODE || ino === STATS_INODE;
  }

  isHiddenName(name: string): boolean {
    return name === MASTERINFO_NAME || name === STATS_NAME;
  }

  content(ino: number): Buffer {
    if (ino === MASTERINFO_INODE) return Buffer.from(encodeMasterInfo(this.masterInfo()));
    return Buffer.from(this.stats());
  }

  attr(ino: number): KernelAttr {
    return {
      ino,
      mode: 0o100444,
      nlink: 1,
      uid: 0,
      gid: 0,
      size: this.content(ino).length,
      atime: this.mountTime,
      mtime: this.mountTime,
      ctime: this.mountTime,
    };
  }
}

function nowSpec(): { sec: number; nsec: number } {
  const ms = Date.now();
  return { sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1e6 };
}

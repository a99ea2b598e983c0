import type { GoalMode, NodeType, Timespec } from '@tsmfs/protocol';
import type { LockChange } from '../locks/lock-table.js';
import type { QuotaMutation } from '../quota/quota-table.js';
import type { SClassMutation } from '../sclass/sclass-table.js';
import type { AclMutation } from '../acl/acl-table.js';
import type { RequestTag, SessionRecord } from './client-state.js';

/**
 * A changelog entry: one deterministic state transition. The live path validates a
 * request, builds the Mutation (resolving everything that is not a pure function of
 * the state: the clock, the new inode id, the fate of an unlinked file) and applies it
 * with the same `applyMutation` that replay uses. Replay = live holds by construction,
 * and the property tests check it.
 *
 * Every entry carries `ts`, the master's clock when it was made; apply never reads the
 * clock.
 */
export type Mutation = MutationBody & {
  /** The client request this entry is the effect of (exactly-once requests only; client-state.ts). */
  req?: RequestTag;
  /** The sessions holding open the file this entry makes sustained: who may claim it after a takeover. */
  held?: { inode: number; sessions: number[] };
};

type MutationBody =
  | {
      op: 'create';
      ts: Timespec;
      parent: number;
      name: string;
      inode: number;
      type: NodeType;
      mode: number;
      uid: number;
      gid: number;
      rdev: number;
      /** symlink target */
      target?: string;
    }
  | { op: 'link'; ts: Timespec; inode: number; parent: number; name: string }
  /**
   * Removing a name. `fate` says what happens to the inode when this was its last
   * link: 'trash' (trashtime > 0), 'sustained' (still open), 'purge' (gone).
   */
  | { op: 'unlink'; ts: Timespec; parent: number; name: string; fate: UnlinkFate }
  | { op: 'rmdir'; ts: Timespec; parent: number; name: string }
  | {
      op: 'rename';
      ts: Timespec;
      parent: number;
      name: string;
      newParent: number;
      newName: string;
      /** Fate of a file replaced at the destination, when it was its last link. */
      replacedFate?: UnlinkFate;
      exchange?: boolean;
    }
  | {
      op: 'setattr';
      ts: Timespec;
      inode: number;
      mode?: number;
      uid?: number;
      gid?: number;
      size?: number;
      atime?: Timespec;
      mtime?: Timespec;
    }
  | { op: 'setxattr'; ts: Timespec; inode: number; name: string; value: Uint8Array }
  | { op: 'removexattr'; ts: Timespec; inode: number; name: string }
  | {
      op: 'setgoal' | 'settrashtime';
      ts: Timespec;
      inode: number;
      value: number;
      mode: GoalMode;
      recursive: boolean;
      /** The caller's uid after exports mapping: apply repeats the permission decisions. */
      uid: number;
    }
  /** seteattr/deleattr/copyeattr (eattr.ts): `set` bits on, `clear` bits off; apply repeats the per-node rule. */
  | { op: 'seteattr'; ts: Timespec; inode: number; set: number; clear: number; recursive: boolean; uid: number; admin: boolean }
  | {
      op: 'snapshot';
      ts: Timespec;
      inode: number;
      parent: number;
      name: string;
      firstInode: number;
      uid: number;
      gid: number;
      overwrite: boolean;
      /** makesnapshot -c: the copies are the caller's, made as a create with this umask would make them. */
      cplike?: { umask: number };
      /** makesnapshot -p: a file met again under another name of the source gets a name, not a copy. */
      preserveHardlinks?: boolean;
      /**
       * Set in every entry logged since: a plain copy by its source's owner keeps the
       * source's group, one of another's node loses setuid/setgid (MooseFS 3.0). Absent in
       * older entries, which replay as they were applied (the caller's group, bits kept).
       */
      ownerRule?: true;
    }
  | { op: 'undelete'; ts: Timespec; inode: number }
  /** A trashed file whose time ran out, a sustained file closed, or a manual purge. */
  | { op: 'purge'; ts: Timespec; inode: number }
  /** A trashed file purged while still open: it stays, as sustained, until released. */
  | { op: 'sustain'; ts: Timespec; inode: number }
  /** A file's chunk slot gets a new chunk (first write, or copy-on-write of a shared one). */
  | {
      op: 'chunkAlloc';
      ts: Timespec;
      inode: number;
      index: number;
      chunkId: number;
      version: number;
      /** Copy-on-write: the shared chunk this one replaces, whose data it must start from. */
      cowFrom?: number;
    }
  /** A write lease bumps a chunk's version so a replica that misses the write is stale. */
  | { op: 'chunkVersion'; ts: Timespec; chunkId: number; version: number }
  /**
   * Freed chunks (in `toDelete`) of which no chunkserver holds a copy any more: they leave
   * `toDelete` (MooseFS's CHUNKDEL), so the list and the dumps do not grow forever.
   */
  | { op: 'chunksDeleted'; ts: Timespec; chunkIds: number[] }
  /** A write ended past the old end of file: the length grows, mtime moves. */
  | { op: 'length'; ts: Timespec; inode: number; size: number }
  /** filerepair: a chunk with no copy left anywhere leaves the file; the slot reads as zeros. */
  | { op: 'chunkErase'; ts: Timespec; inode: number; index: number }
  /** appendchunks: `src`'s chunks are shared onto the end of `inode`, padded to a whole chunk first. */
  /** `slice` (appendchunks -s): the source's chunks [from, to), resolved against its length when logged; absent: all of them. */
  | { op: 'appendChunks'; ts: Timespec; inode: number; src: number; slice?: { from: number; to: number } }
  /** A client session opened: a new leader lets its client re-attach to the same id. */
  | ({ op: 'session'; ts: Timespec } & SessionRecord)
  /** A session ended (expired, or replaced on its link): its request results go with it. */
  | { op: 'sessionEnd'; ts: Timespec; id: number }
  /** A lock set or a range unlocked by one owner (locks/lock-table.ts); conflicts were checked before. */
  | ({ op: 'lock'; ts: Timespec } & LockChange)
  /** A directory's quota limits as they are now (quota/quota-table.ts). */
  | QuotaMutation
  /** Storage classes' definitions and setsclass (sclass/sclass-table.ts). */
  | SClassMutation
  /** An access or default ACL set or removed (acl/acl-table.ts). */
  | AclMutation;

export type UnlinkFate = 'trash' | 'sustained' | 'purge';
export type MutationOp = Mutation['op'];

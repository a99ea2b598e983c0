import { type Infer, t } from './schema.js';

/**
 * The storage classes' wire shapes (MooseFS 3.0's mfsscadmin / mfssetsclass; the master's
 * sclass/ holds the rules). Labels expressions travel as text: the master parses them
 * and answers EINVAL with the reason.
 */
export const SClassName = t.str(1024);

/** MooseFS's -m modes: D (default), S (strict), L (loose). */
export const CreateMode = t.lit('default', 'strict', 'loose');
export type CreateMode = Infer<typeof CreateMode>;

/** A class as created: `create`/`archive` '' = none (keep's labels are used). */
export const SClassFields = {
  adminOnly: t.bool,
  mode: CreateMode,
  create: t.str(1024),
  keep: t.str(1024),
  archive: t.str(1024),
  /** Days (mfsscadmin -d). */
  archiveDelay: t.u32,
};

/** mfsscadmin change: only the fields given change. */
export const SClassChanges = {
  adminOnly: t.opt(t.bool),
  mode: t.opt(CreateMode),
  create: t.opt(t.str(1024)),
  keep: t.opt(t.str(1024)),
  archive: t.opt(t.str(1024)),
  archiveDelay: t.opt(t.u32),
};

/**
 * A class as listed: its definition and how many files and directories are in it. Its
 * labels expressions are in MooseFS's printed form (`[A] , [B+C]`), create and archive
 * being keep's when the class has none of its own.
 */
export const SClassInfo = t.obj({ id: t.u8, name: SClassName, ...SClassFields, files: t.u53, dirs: t.u53 });
export type SClassInfo = Infer<typeof SClassInfo>;

/** getsclass: nodes counted by class. */
export const SClassHistogram = t.arr(t.obj({ id: t.u8, name: SClassName, files: t.u53, dirs: t.u53 }), 256);
export type SClassHistogram = Infer<typeof SClassHistogram>;

/** mfschkarchive's figures for a tree (tsmfs archives whole files: none is partially archived). */
export const ArchiveState = t.obj({ archivedFiles: t.u53, notArchivedFiles: t.u53, archivedChunks: t.u53, notArchivedChunks: t.u53 });
export type ArchiveState = Infer<typeof ArchiveState>;

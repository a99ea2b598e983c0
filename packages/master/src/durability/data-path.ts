import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What lives in DATA_PATH, named after MooseFS's files (metadata.mfs, metadata.mfs.back.N,
 * changelog.N.mfs, .mfsmaster.lock) with our suffix:
 *
 *   metadata.tsmfs           the newest dump
 *   metadata.tsmfs.back.N    older dumps, N = 1 the most recent (BACK_META_KEEP_PREVIOUS)
 *   metadata.tsmfs.tmp       a dump being written (ignored and removed at start-up)
 *   changelog.0.tsmfs        the changelog being appended to
 *   changelog.N.tsmfs        older changelogs, N = 1 the most recent (BACK_LOGS)
 *   .tsmfs-master.lock       the data lock (pid of the master using this directory)
 *
 * A metalogger's DATA_PATH holds the same kinds of files under MooseFS's `_ml` names
 * (metadata_ml.mfs, changelog_ml.N.mfs): metadata_ml.tsmfs, metadata_ml.tsmfs.back.N,
 * metadata_ml.tsmfs.tmp, changelog_ml.N.tsmfs. tsmfs-metarestore reads both families.
 */
export const DUMP_FILE = 'metadata.tsmfs';
export const DUMP_TEMP_FILE = 'metadata.tsmfs.tmp';
export const LOCK_FILE = '.tsmfs-master.lock';

export const dumpBackupFile = (n: number): string => `${DUMP_FILE}.back.${n}`;
export const changelogFile = (n: number): string => `changelog.${n}.tsmfs`;

export const ML_DUMP_FILE = 'metadata_ml.tsmfs';
export const ML_DUMP_TEMP_FILE = 'metadata_ml.tsmfs.tmp';
export const mlDumpBackupFile = (n: number): string => `${ML_DUMP_FILE}.back.${n}`;
export const mlChangelogFile = (n: number): string => `changelog_ml.${n}.tsmfs`;

const CHANGELOG_RE = /^changelog\.(\d+)\.tsmfs$/;
const ML_CHANGELOG_RE = /^changelog_ml\.(\d+)\.tsmfs$/;
const ML_DUMP_BACKUP_RE = /^metadata_ml\.tsmfs\.back\.(\d+)$/;
const DUMP_BACKUP_RE = /^metadata\.tsmfs\.back\.(\d+)$/;

export interface NumberedFile {
  n: number;
  path: string;
}

/** Changelog files present, newest first (changelog.0 first). Numbers may have gaps. */
export function listChangelogs(dir: string): NumberedFile[] {
  return listNumbered(dir, CHANGELOG_RE);
}

/** Dumps present, newest first: metadata.tsmfs (n = 0), then the backups. */
export function listDumps(dir: string): NumberedFile[] {
  const files = listNumbered(dir, DUMP_BACKUP_RE);
  if (readdirSync(dir).includes(DUMP_FILE)) files.unshift({ n: 0, path: join(dir, DUMP_FILE) });
  return files;
}

/** A metalogger's changelog files, newest first (changelog_ml.0 first). */
export function listMlChangelogs(dir: string): NumberedFile[] {
  return listNumbered(dir, ML_CHANGELOG_RE);
}

/** A metalogger's dumps, newest first: metadata_ml.tsmfs (n = 0), then the backups. */
export function listMlDumps(dir: string): NumberedFile[] {
  const files = listNumbered(dir, ML_DUMP_BACKUP_RE);
  if (readdirSync(dir).includes(ML_DUMP_FILE)) files.unshift({ n: 0, path: join(dir, ML_DUMP_FILE) });
  return files;
}

function listNumbered(dir: string, re: RegExp): NumberedFile[] {
  const out: NumberedFile[] = [];
  for (const name of readdirSync(dir)) {
    const m = re.exec(name);
    if (m) out.push({ n: Number(m[1]), path: join(dir, name) });
  }
  return out.sort((a, b) => a.n - b.n);
}

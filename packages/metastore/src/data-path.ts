import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '@tsmfs/daemon';

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
/** One daemon's names for its dumps and changelogs: the master's, or a metalogger's `_ml` ones. */
export interface FileFamily {
  dump: string;
  dumpTemp: string;
  dumpBackup: (n: number) => string;
  changelog: (n: number) => string;
  /** Matches changelog(N), capturing N. */
  changelogRe: RegExp;
  /** Matches dumpBackup(N), capturing N. */
  dumpBackupRe: RegExp;
}

/** `metadata${tag}.tsmfs`, `changelog${tag}.N.tsmfs` and their relatives. */
function fileFamily(tag: '' | '_ml'): FileFamily {
  const dump = `metadata${tag}.tsmfs`;
  return {
    dump,
    dumpTemp: `${dump}.tmp`,
    dumpBackup: (n) => `${dump}.back.${n}`,
    changelog: (n) => `changelog${tag}.${n}.tsmfs`,
    changelogRe: new RegExp(`^changelog${tag}\\.(\\d+)\\.tsmfs$`),
    dumpBackupRe: new RegExp(`^metadata${tag}\\.tsmfs\\.back\\.(\\d+)$`),
  };
}

export const MASTER_FILES = fileFamily('');
export const METALOGGER_FILES = fileFamily('_ml');

export const DUMP_FILE = MASTER_FILES.dump;
export const DUMP_TEMP_FILE = MASTER_FILES.dumpTemp;
export const LOCK_FILE = '.tsmfs-master.lock';
export const dumpBackupFile = MASTER_FILES.dumpBackup;
export const changelogFile = MASTER_FILES.changelog;

export const ML_DUMP_FILE = METALOGGER_FILES.dump;
export const ML_DUMP_TEMP_FILE = METALOGGER_FILES.dumpTemp;
export const mlDumpBackupFile = METALOGGER_FILES.dumpBackup;
export const mlChangelogFile = METALOGGER_FILES.changelog;

export interface NumberedFile {
  n: number;
  path: string;
}

/** Changelog files present, newest first (changelog.0 first). Numbers may have gaps. */
export function listChangelogs(dir: string, family: FileFamily = MASTER_FILES): NumberedFile[] {
  return listNumbered(dir, family.changelogRe);
}

/** Dumps present, newest first: metadata.tsmfs (n = 0), then the backups. */
export function listDumps(dir: string, family: FileFamily = MASTER_FILES): NumberedFile[] {
  const files = listNumbered(dir, family.dumpBackupRe);
  if (readdirSync(dir).includes(family.dump)) files.unshift({ n: 0, path: join(dir, family.dump) });
  return files;
}

/** A metalogger's changelog files, newest first (changelog_ml.0 first). */
export function listMlChangelogs(dir: string): NumberedFile[] {
  return listChangelogs(dir, METALOGGER_FILES);
}

/** A metalogger's dumps, newest first: metadata_ml.tsmfs (n = 0), then the backups. */
export function listMlDumps(dir: string): NumberedFile[] {
  return listDumps(dir, METALOGGER_FILES);
}

/** DATA_PATH must be an existing directory: a daemon never creates it (a typo would start an empty file system). */
export function checkDataPath(dir: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `DATA_PATH ${dir} does not exist (create it, writable by the user the daemon runs as)`
        : `DATA_PATH ${dir} cannot be used (${code ?? (err as Error).message})`,
    );
  }
  if (!isDir) throw new ConfigError(`DATA_PATH ${dir} is not a directory`);
}

function listNumbered(dir: string, re: RegExp): NumberedFile[] {
  const out: NumberedFile[] = [];
  for (const name of readdirSync(dir)) {
    const m = re.exec(name);
    if (m) out.push({ n: Number(m[1]), path: join(dir, name) });
  }
  return out.sort((a, b) => a.n - b.n);
}

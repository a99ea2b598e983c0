// Reading the versions in changelog files a daemon left in its DATA_PATH ("V|entry"
// lines): how tests and drills see how far a master or metalogger has got without
// asking it. The file names are the metastore's (the master's or a metalogger's family).
import { readFileSync } from 'node:fs';
import { type FileFamily, listChangelogs } from '@tsmfs/metastore';

function lineVersions(file: string): number[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('|'))
    .map((l) => Number(l.slice(0, l.indexOf('|'))));
}

/** Every version in DIR's changelog files, oldest file first, in file order (for gap/duplicate checks). */
export function changelogVersionsIn(dir: string, family: FileFamily): number[] {
  return listChangelogs(dir, family)
    .reverse()
    .flatMap((f) => lineVersions(f.path));
}

/** The last version written to DIR's changelog files (0 if none). */
export function lastChangelogVersion(dir: string, family: FileFamily): number {
  for (const f of listChangelogs(dir, family)) {
    const v = lineVersions(f.path);
    if (v.length > 0) return v[v.length - 1]!;
  }
  return 0;
}

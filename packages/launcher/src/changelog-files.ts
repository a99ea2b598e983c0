// Reading the versions in changelog files a daemon left in its DATA_PATH ("V|entry"
// lines, changelog.N.tsmfs / changelog_ml.N.tsmfs, N = 0 the newest): how tests and
// drills see how far a master or metalogger has got without asking it.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const MASTER_CHANGELOG = /^changelog\.(\d+)\.tsmfs$/;
export const METALOGGER_CHANGELOG = /^changelog_ml\.(\d+)\.tsmfs$/;

/** Changelog files of DIR matching RE, oldest (highest N) first. */
function numberedFiles(dir: string, re: RegExp): string[] {
  return readdirSync(dir)
    .map((name) => ({ name, m: re.exec(name) }))
    .filter((f) => f.m)
    .sort((a, b) => Number(b.m![1]) - Number(a.m![1]))
    .map((f) => join(dir, f.name));
}

function lineVersions(file: string): number[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.includes('|'))
    .map((l) => Number(l.slice(0, l.indexOf('|'))));
}

/** Every version in DIR's changelog files matching RE, in file order (for gap/duplicate checks). */
export function changelogVersionsIn(dir: string, re: RegExp): number[] {
  return numberedFiles(dir, re).flatMap(lineVersions);
}

/** The last version written to DIR's changelog files matching RE (0 if none). */
export function lastChangelogVersion(dir: string, re: RegExp): number {
  for (const f of numberedFiles(dir, re).reverse()) {
    const v = lineVersions(f);
    if (v.length > 0) return v[v.length - 1]!;
  }
  return 0;
}

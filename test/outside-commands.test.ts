/**
 * Every outside command that the tests, benchmarks and scripts run comes from a Debian
 * package of scripts/debian-packages.txt, which scripts/setup.sh installs: a command that
 * is not there makes `npm test` fail on a fresh machine (as setfattr, from `attr`, did).
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { debianPackages } from './fixture/debian-packages.js';
import { outsideCommands, programCommands, shellCommands } from './fixture/outside-commands.js';

const ROOT = resolve(import.meta.dirname, '..');
const packages = debianPackages(ROOT);

describe('outside commands', () => {
  it('scripts/debian-packages.txt lists every command the tests, benchmarks and scripts run', () => {
    const listed = new Set(packages.flatMap((p) => p.commands));
    const uses = outsideCommands(ROOT);
    expect(uses.length).toBeGreaterThan(100); // the scan found the commands it is meant to find
    expect(uses.filter((u) => !listed.has(u.command)).map((u) => `${u.command} at ${u.where}`)).toEqual([]);
  });

  it('each listed package has a role, is installed (scripts/setup.sh did it) and provides its commands', () => {
    const wrong: string[] = [];
    for (const p of packages) {
      if (!['run', 'build', 'test', 'bench'].includes(p.role)) wrong.push(`${p.name}: role "${p.role}" is none of run, build, test, bench`);
      let files: string[];
      try {
        files = execFileSync('dpkg-query', ['-L', p.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
      } catch {
        wrong.push(`${p.name}: not installed`);
        continue;
      }
      for (const c of p.commands) if (!files.some((f) => f.endsWith(`bin/${c}`))) wrong.push(`${p.name} has no ${c}`);
    }
    expect(wrong).toEqual([]);
  });

  it('finds commands in calls, argvs, shell text, constants and scripts, and nothing else', () => {
    const names = (found: { command: string }[]): string[] => [...new Set(found.map((f) => f.command))].sort();
    const src = [
      "const TAR = 'tar --sort=name -c';",
      "spawn('rsync', ['-a']); execFileSync('/usr/bin/python3', []); run('fusermount', ['-u', dir]);",
      "const argv = ['setpriv', `--reuid=${uid}`, '--clear-groups', 'bash', '-c', script];",
      'await sh(`cd ${dir} && ${TAR} x | sha256sum; timeout -s INT 0.5 flock -x f true`);',
      "await shOk('echo \"$(stat -c %s f)\" > out # what\\'s in a comment: ls');",
      'const gitScript = `git init -q && FOO=1 xargs -n 1 git add 2>/dev/null`;',
      'await sh(gitScript, { cwd });',
      "await sh([`cd ${dir}`, `getfattr -d x`].join(' && '));",
      "const text = 'not a command'; const py = `run('label', 'p', lambda: 0)`;",
    ].join('\n');
    expect(names(programCommands(src))).toEqual(['bash', 'flock', 'fusermount', 'getfattr', 'git', 'python3', 'rsync', 'setpriv', 'sha256sum', 'stat', 'tar', 'timeout', 'xargs']);
    const script = [
      '#!/usr/bin/env bash',
      'set -euo pipefail # the script\'s options',
      'log() { echo "$*" >&2; }',
      "trap 'rm -rf \"$D\"' EXIT",
      'D=$(mktemp -d) && log start',
      'for f in a b; do dd if=/dev/zero of="$D/$f" \\',
      '  bs=1M count=1; done',
      "out=$(python3 - <<'PY'",
      'import os; print(os.getcwd())',
      'PY',
      ')',
      "node -e 'console.log(1);",
      "  process.exit(0)' | wc -l",
    ].join('\n');
    expect(names(shellCommands(script, 0))).toEqual(['dd', 'mktemp', 'python3', 'wc']);
  });
});

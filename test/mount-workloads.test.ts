/**
 * Real workloads inside a tsmfs mount, each checked against the same on a local folder
 * (issue 4): a real source tree extracted, `diff -r`, `tar c` of both equal (modes, owners,
 * nanosecond mtimes), `cp -a` out, `rsync -a` in, git. Commands run in child processes.
 */
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, makeTempDir } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';

/**
 * npm's own tree, ~1,300 of its ~2,400 entries (10 MiB): its code, man pages and about
 * half its dependencies, kept so that every symlink in node_modules/.bin still resolves
 * (diff -r follows them). The whole tree took the suite's longest file (~95 s quiet);
 * what the tools do with a file does not change with the count.
 */
const SOURCE_PARENT = '/usr/lib/node_modules';
const SOURCE = 'npm';
const SUBSET = ['npm/docs', 'npm/node_modules/[abd-m]*', 'npm/node_modules/@[!n]*', 'npm/node_modules/@npmcli/[!ai]*'].map((p) => `--exclude='${p}'`).join(' ');

/** Types, modes, owners, sizes, link counts and nanosecond mtimes of a tree, sorted. */
const META = `find . -mindepth 1 -printf '%y %m %U:%G %s %n %T@ %p\\n' | sort`;
/** A deterministic archive of a tree: what `tar c` records, without atime/ctime. */
const TAR = `tar -c --sort=name --format=pax --pax-option=delete=atime,delete=ctime --numeric-owner`;

describe('real workloads in the mount', () => {
  // ~1,300 files through every tool: under a minute quiet, minutes at load 10 (the bound is for a hang).
  it('tar -x, diff -r, tar c, cp -a out, rsync -a in, git', { timeout: 420_000 }, async () => {
    const c = await Cluster.create({ master: { config: { REPLICATIONS_DELAY_INIT: 0 } } });
    await c.addChunkservers(2);
    const m = await c.mount();
    const local = makeTempDir();
    const M = m.path;
    await shOk(`${TAR} ${SUBSET} -C ${SOURCE_PARENT} -f ${local}/src.tar ${SOURCE} && mkdir ${local}/x ${M}/x`);

    // extract the same archive locally and in the mount
    await shOk(`tar -C ${local}/x -xpf ${local}/src.tar`);
    await shOk(`tar -C ${M}/x -xpf ${local}/src.tar`);
    await shOk(`diff -r ${local}/x ${M}/x`);
    const [a, b] = await Promise.all([shOk(META, { cwd: `${local}/x` }), shOk(META, { cwd: `${M}/x` })]);
    expect(b.replace(/^d (\d+) (\S+) \d+ /gm, 'd $1 $2 - ')).toBe(a.replace(/^d (\d+) (\S+) \d+ /gm, 'd $1 $2 - '));
    const [ta, tb] = await Promise.all([
      shOk(`${TAR} -C ${local}/x ${SOURCE} | sha256sum`),
      shOk(`${TAR} -C ${M}/x ${SOURCE} | sha256sum`),
    ]);
    expect(tb).toBe(ta);

    // cp -a out of the mount keeps everything
    await shOk(`cp -a ${M}/x ${local}/out && diff -r ${local}/x ${local}/out`);
    const out = await shOk(META, { cwd: `${local}/out` });
    expect(out.replace(/^d (\d+) (\S+) \d+ /gm, 'd $1 $2 - ')).toBe(a.replace(/^d (\d+) (\S+) \d+ /gm, 'd $1 $2 - '));

    // rsync -a into the mount (from the local extract: the same subset), then again: nothing left to transfer
    await shOk(`rsync -a ${local}/x/${SOURCE}/ ${M}/rs/`);
    await shOk(`diff -r ${local}/x/${SOURCE} ${M}/rs`);
    const again = await shOk(`rsync -a -i ${local}/x/${SOURCE}/ ${M}/rs/`);
    expect(again).toBe('');

    // git: init, commit, branch, checkout, the same in both places
    const gitScript = `
      set -e
      export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
      git init -q -b main repo && cd repo
      git config user.email t@example.com && git config user.name t
      cp -r ../x/${SOURCE}/lib . && git add -A && git commit -q -m one
      git checkout -q -b feature && echo change >> lib/cli.js && git rm -q -r lib/utils && git commit -q -am two
      git checkout -q main && test -d lib/utils && git merge -q --ff-only feature && test ! -e lib/utils
      git checkout -q -b other HEAD~1 && git gc -q && git fsck --no-progress 2>&1 | (! grep -v '^dangling')
      git log --all --format='%H %T %s' | sort; git status --porcelain
    `;
    const [ga, gb] = await Promise.all([shOk(gitScript, { cwd: local }), shOk(gitScript, { cwd: M })]);
    expect(gb).toBe(ga);
    expect((await sh(`grep -c . /proc/mounts`)).code).toBe(0);
  });
});

/**
 * Permissions of the multi-user mount (allow_other + default_permissions + the master's
 * own checks) against ext4 (issue 4): the same commands as an unprivileged user
 * (setpriv --reuid=65534 --regid=65534 --clear-groups) in a tree prepared the same way
 * by root in the mount and in a local folder must be allowed and denied alike. Issue 9:
 * non-owner writes and truncates of setuid/setgid files, ftruncate through a descriptor.
 */
import { chmod } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { EXIT, runTsmfs } from '@tsmfs/cli';
import { Cluster, Mount, makeTempDir } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';
import { until } from './fixture/poll.js';

const NOBODY = { uid: 65534, gid: 65534 };

/**
 * Local folders given chattr flags: cleared after each test, before the fixture's own
 * afterEach (registered first, so run last) removes the temp dirs, which an immutable
 * file would stop.
 */
const flagged: string[] = [];
afterEach(async () => {
  for (const dir of flagged.splice(0)) await sh('chattr -R -i -a flags', { cwd: dir });
});

/** `tsmfs <tool>` in this process (as root), which must succeed: what it printed. */
async function tsmfs(...argv: string[]): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTsmfs(argv, { io: (format) => ({ out: (l) => out.push(l), err: (l) => err.push(l), format, progress: false }) });
  if (code !== EXIT.ok) throw new Error(`tsmfs ${argv.join(' ')}: exit ${code}: ${err.join('\n')}`);
  return out.join('\n');
}

/** As root: the tree the user then works in. */
const PREPARE = `
  set -e
  mkdir pub priv ro sticky setgid
  chmod 777 pub; chmod 700 priv; chmod 755 ro; chmod 1777 sticky; chmod 2777 setgid; chgrp 100 setgid
  echo secret > priv/f; echo data > ro/f; chmod 644 ro/f
  echo mine > ro/nobodys; chown 65534:65534 ro/nobodys; chmod 600 ro/nobodys
  echo root > sticky/rootfile; chmod 666 sticky/rootfile
  echo x > pub/rootfile; chmod 600 pub/rootfile
  mkfifo pub/fifo; chmod 600 pub/fifo
  mkdir flags flags/immdir flags/appdir; chmod 777 flags flags/immdir flags/appdir
  for f in imm app immdir/f appdir/f; do echo a > flags/$f; chmod 666 flags/$f; done
`;

/**
 * Extra attributes (issue 13): chattr +i and +a, through the mount tsmfs's immutable and
 * appendonly (FUSE ioctls), refuse there what they refuse on ext4, with the same errno,
 * to the user and to root. (`tsmfs seteattr` sets the same flags: cli-tools.test.ts.)
 */
const FLAGS = 'chattr +i flags/imm flags/immdir && chattr +a flags/app flags/appdir';
const ON_FLAGGED = [
  'lsattr -d flags/imm flags/app | tr -s "-" | sed "s/-e-/-/"',
  'cat flags/imm',
  'echo y >> flags/imm',
  'echo y > flags/imm',
  'truncate -s 0 flags/imm',
  'touch flags/imm',
  'rm flags/imm',
  'mv flags/imm flags/imm2',
  'ln flags/imm flags/immlink',
  'setfattr -n user.x -v 1 flags/imm',
  'echo y >> flags/app && cat flags/app',
  'echo y > flags/app',
  'truncate -s 0 flags/app',
  'truncate -s 100 flags/app',
  'rm flags/app',
  'mv flags/app flags/app2',
  'touch flags/app',
  'touch flags/immdir/new',
  'echo y >> flags/immdir/f && cat flags/immdir/f',
  'rm flags/immdir/f',
  'mv flags/immdir/f flags/out',
  'touch flags/appdir/new && ls flags/appdir',
  'rm flags/appdir/f',
  'mv flags/appdir/f flags/out',
];

/** As the user: each command's exit status and message, with the base path removed. */
const AS_USER = [
  'touch pub/new',
  'mkdir pub/dir && touch pub/dir/x',
  'touch priv/x',
  'cat priv/f',
  'ls priv',
  'cat ro/f',
  'echo y >> ro/f',
  'touch ro/x',
  'rm ro/f',
  'cat ro/nobodys',
  'echo more >> ro/nobodys',
  'chmod 644 ro/nobodys && stat -c %a ro/nobodys',
  'chmod 777 ro/f',
  'chown 65534 ro/f',
  'touch -d @1000000000 ro/f',
  'touch -d @1000000000 ro/nobodys',
  'touch sticky/mine && rm sticky/mine',
  'rm sticky/rootfile',
  'mv sticky/rootfile sticky/moved',
  'echo w > sticky/rootfile',
  'cat pub/rootfile',
  'rm pub/rootfile',
  'ln ro/f pub/hardlink',
  'ln -s ro/f pub/symlink && readlink pub/symlink',
  'timeout 2 cat pub/fifo',
  'touch setgid/f && stat -c %g setgid/f',
  'mkdir setgid/d && stat -c %g:%a setgid/d',
  'rmdir ro',
  'mv pub/new priv/',
  'chattr +i flags/immdir/f',
  'chattr -i flags/imm',
  ...ON_FLAGGED,
];

/**
 * POSIX ACLs (issue 13): as root, the same ACLs on both sides (setfacl); as the user, the
 * named-user, named-group, mask and other entries decide reads, writes, execution,
 * listing and searching, setfacl is refused to a non-owner, and what the user creates
 * under a default ACL inherits it (its mode masked by it, not by the umask).
 */
const PREPARE_ACLS = `
  mkdir acl; cd acl
  for f in named denied masked grp narrowed; do echo $f > $f; done
  chmod 600 named masked grp; chmod 644 denied narrowed
  setfacl -m u:65534:rw named; setfacl -m u:65534:- denied; setfacl -m u:65534:rw,m::r masked
  setfacl -m g:65534:r grp; setfacl -m u:65534:rw narrowed; chmod 604 narrowed
  printf '#!/bin/sh\necho ran\n' > script; chmod 700 script; setfacl -m u:65534:rx script
  mkdir dir nolist drop inherit; echo f > dir/f; echo g > nolist/g; chmod 644 dir/f nolist/g
  chmod 700 dir; setfacl -m u:65534:rx dir; setfacl -m u:65534:x,o::- nolist; setfacl -m u:65534:rwx drop
  chmod 777 inherit; setfacl -d -m u:0:rwx,g:65534:rx,o::- inherit; setfacl -m d:m::rw inherit
  mkdir hidden; echo h > hidden/f; chmod 644 hidden/f; setfacl -m u:65534:- hidden
`;
const ACL_AS_USER = [
  'cat acl/named && echo w >> acl/named && cat acl/named',
  'cat acl/denied',
  'cat acl/masked; echo w >> acl/masked',
  'cat acl/grp; echo w >> acl/grp',
  'cat acl/narrowed; echo w >> acl/narrowed',
  'acl/script',
  'ls acl/dir && cat acl/dir/f && touch acl/dir/x',
  'ls acl/nolist; cat acl/nolist/g',
  'cat acl/hidden/f',
  'touch acl/drop/new && stat -c "%a %u" acl/drop/new && rm acl/drop/new',
  'getfacl -n acl/named',
  'setfacl -m u:65534:rwx acl/denied',
  'setfacl -x u:65534 acl/named',
  'umask 022; touch acl/inherit/f && mkdir acl/inherit/d acl/inherit/d/e && mkfifo acl/inherit/p && ln -s f acl/inherit/s',
  'cd acl/inherit && stat -c "%n %a" f d d/e p && getfacl -n f d d/e p',
  'chmod 640 acl/inherit/f && getfacl -n acl/inherit/f',
  'setfacl -m u:0:r,m::rwx acl/inherit/f && stat -c %a acl/inherit/f && cat acl/inherit/f',
  'setfacl -b acl/inherit/f && getfacl -n acl/inherit/f',
  'setfacl -k acl/inherit/d && getfacl -n acl/inherit/d',
];

/**
 * The same ACL script on a mount with `-o noacl` (the kernel checks mode bits only, the
 * master the ACLs: docs/mount.md, "Without the kernel's ACL checks") against ext4: a
 * call succeeds only where both allow it, so a named entry lets in no more than the
 * mode's class does; whatever an ACL refuses stays refused, a directory's included after
 * root walked it (its names are neither cached nor kept by the kernel); the kernel
 * applies the umask before a default ACL masks the mode.
 */
async function withoutKernelAcls(c: Cluster): Promise<void> {
  const m = await c.mount({ options: ['noacl'] });
  // The mount logs how the kernel connected right after the mount is listed: wait for the line.
  const connected = await until('the mount logs its kernel connection', () => /"posixAcl":\w+/.exec(m.output())?.[0], 10_000, 50);
  expect(connected).toBe('"posixAcl":false');
  const local = makeTempDir();
  await chmod(local, 0o755);
  await shOk(PREPARE_ACLS, { cwd: local });
  await shOk(`mkdir fallback && cd fallback && ${PREPARE_ACLS}`, { cwd: m.path });
  // Root walks the directory whose ACL keeps the user out: the kernel and the mount would keep its names.
  await shOk('cat acl/hidden/f', { cwd: join(m.path, 'fallback') });
  const ext4 = byCommand((await sh(script(ACL_AS_USER), { cwd: local, as: NOBODY })).stdout);
  const fallback = byCommand((await sh(script(ACL_AS_USER), { cwd: join(m.path, 'fallback'), as: NOBODY })).stdout);
  const refused = (path: string) => `cat: ${path}: Permission denied\n-> 1`;
  // Where the user sees other than on ext4: refused where only a named entry (or a named
  // group's, or the owning group's through the mask) lets it in; modes masked twice.
  const differs: Record<string, string | RegExp> = {
    [ACL_AS_USER[0]!]: refused('acl/named'),
    [ACL_AS_USER[2]!]: 'cat: acl/masked: Permission denied\nbash: line 3: acl/masked: Permission denied\n-> 1',
    [ACL_AS_USER[3]!]: 'cat: acl/grp: Permission denied\nbash: line 4: acl/grp: Permission denied\n-> 1',
    [ACL_AS_USER[5]!]: 'bash: line 6: acl/script: Permission denied\n-> 126',
    [ACL_AS_USER[6]!]: "ls: cannot open directory 'acl/dir': Permission denied\n-> 2",
    [ACL_AS_USER[7]!]: "ls: cannot open directory 'acl/nolist': Permission denied\ncat: acl/nolist/g: Permission denied\n-> 1",
    [ACL_AS_USER[9]!]: "touch: cannot touch 'acl/drop/new': Permission denied\n-> 1",
    [ACL_AS_USER[14]!]: /^f 640\nd 740\nd\/e 740\np 640\n[^]*mask::r--[^]*-> 0$/,
    [ACL_AS_USER[18]!]: /^# file: acl\/inherit\/d\n[^]*mask::r--\nother::---\n\n-> 0$/,
  };
  expect(ACL_AS_USER[8]).toBe('cat acl/hidden/f');
  expect(ext4.get('cat acl/hidden/f')).toBe(refused('acl/hidden/f'));
  for (const cmd of ACL_AS_USER) {
    const want = differs[cmd] ?? ext4.get(cmd);
    expect(fallback.get(cmd), cmd).toBeDefined();
    if (want instanceof RegExp) expect(fallback.get(cmd), cmd).toMatch(want);
    else expect(fallback.get(cmd), cmd).toBe(want);
    if (differs[cmd] !== undefined) expect(fallback.get(cmd), cmd).not.toBe(ext4.get(cmd));
  }
}

/** A script's output (script()) by command: what it printed and its status ("-> N"). */
function byCommand(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  let block: string[] = [];
  for (const line of stdout.split('\n')) {
    const end = /^-> (\d+): (.*)$/.exec(line);
    if (!end) {
      block.push(line);
      continue;
    }
    out.set(end[2]!, [...block, `-> ${end[1]}`].join('\n'));
    block = [];
  }
  return out;
}

/** What root, whom no mode stops, is refused alike: the flags alone decide. */
const ROOT_ON_FLAGGED = ['echo y >> flags/imm', 'rm flags/imm', 'echo y > flags/app', 'truncate -s 0 flags/app', 'touch flags/immdir/new', 'rm flags/appdir/f'];

function script(commands = AS_USER): string {
  return commands.map((c) => `( ${c} ) 2>&1 | sed "s|$PWD/||g"; echo "-> \${PIPESTATUS[0]}: ${c.replaceAll('"', '\\"')}"`).join('\n');
}

/**
 * A cluster with a mount and a local (ext4) folder, both prepared by root with `prepare`;
 * `script` then runs in each as the user. `asRoot` runs a command in both afterwards.
 */
async function onExt4AndMount(prepare: string, script: string, flags?: string) {
  const c = await Cluster.create();
  await c.addChunkservers(1);
  const m = await c.mount();
  const local = makeTempDir();
  await chmod(local, 0o755);
  await shOk(prepare, { cwd: local });
  await shOk(prepare, { cwd: m.path });
  if (flags) {
    flagged.push(local);
    await shOk(flags, { cwd: local });
    await shOk(flags, { cwd: m.path });
  }
  const [ext4, tsmfs] = [await sh(script, { cwd: local, as: NOBODY }), await sh(script, { cwd: m.path, as: NOBODY })];
  const asRoot = async (cmd: string) => ({ ext4: await shOk(cmd, { cwd: local }), tsmfs: await shOk(cmd, { cwd: m.path }) });
  return { ext4, tsmfs, asRoot, c, m, local };
}

describe('multi-user permissions', () => {
  it('an unprivileged user is denied and allowed as on ext4, POSIX ACLs included; immutable and appendonly act as chattr +i/+a there, for root too', async () => {
    const { ext4, tsmfs, asRoot, c, m } = await onExt4AndMount(PREPARE + PREPARE_ACLS, script([...AS_USER, ...ACL_AS_USER]), FLAGS);
    expect(tsmfs.stdout).toBe(ext4.stdout);
    // The comparison must see what ACLs decide: a named user let in where the mode alone
    // refuses, kept out where other would let it in, a mode masked by a default ACL.
    expect(ext4.stdout).toMatch(/^named\nnamed\nw\n-> 0: cat acl\/named/m);
    expect(ext4.stdout).toMatch(/Permission denied\n-> 1: cat acl\/denied\n/);
    expect(ext4.stdout).toMatch(/^ran\n-> 0: acl\/script$/m);
    expect(ext4.stdout).toContain('f 660\nd 760\nd/e 760\np 660\n');
    expect(ext4.stdout).toMatch(/^group:65534:r-x\s+#effective:r--$/m);
    expect(ext4.stdout).toMatch(/Operation not permitted\n-> 1: setfacl -m u:65534:rwx acl\/denied/);
    expect(ext4.stdout).toMatch(/Permission denied/);
    expect(ext4.stdout).toMatch(/Operation not permitted/);
    expect(ext4.stdout).toMatch(/Operation not permitted\n-> 1: rm flags\/imm\n/);
    expect(ext4.stdout).toContain('-i- flags/imm\n-a- flags/app\n');
    expect(ext4.stdout).toMatch(/chattr: Operation not permitted while setting flags on flags\/immdir\/f\n-> 1:/);
    // Root is refused alike (CAP_LINUX_IMMUTABLE only lets it change the flags).
    const root = await asRoot(script(ROOT_ON_FLAGGED));
    expect(root.tsmfs).toBe(root.ext4);
    expect(root.ext4).toMatch(/Operation not permitted\n-> 1: echo y > flags\/app\n/);
    // and the trees agree afterwards (as root)
    const trees = await asRoot(`find . -printf '%y %m %U:%G %n %p\\n' | sort`);
    expect(trees.tsmfs).toBe(trees.ext4);
    const acls = await asRoot('find acl | sort | xargs getfacl -n -p');
    expect(acls.tsmfs).toBe(acls.ext4);
    await tsmfsOnlyFlags(m);
    await noentrycacheOnTwoMounts(c, m);
    await withoutKernelAcls(c);
  });

  it('non-owner writes and truncates clear setuid/setgid, and ftruncate goes by the descriptor, as on ext4', async () => {
    const { ext4, tsmfs, asRoot } = await onExt4AndMount(PREPARE_PRIVS, PRIVS_DRIVER);
    expect(ext4.code, ext4.stderr).toBe(0);
    expect(tsmfs.stdout).toBe(ext4.stdout);
    // The comparison must see the cases it is about: on ext4 a write drops the bits, a
    // descriptor allows what the mode does not.
    expect(ext4.stdout).toMatch(/^write 4777 root ok 777$/m);
    expect(ext4.stdout).toMatch(/^ftruncate-mode-0 ok 0$/m);
    // Sizes too (of files: a directory's size is the file system's own business).
    const trees = await asRoot(`find . -type d -printf '%y %m %U:%G %p\\n' -o -printf '%y %m %U:%G %s %p\\n' | sort`);
    expect(trees.tsmfs).toBe(trees.ext4);
  });
});

/**
 * setuid/setgid files (owned by root, group root or nobody's group) for each way a
 * non-owner changes a file's contents: a write, truncate(2), open(O_TRUNC), ftruncate.
 * With and without group execute, with the writer in the file's group and not.
 */
const PRIV_MODES = ['4777', '2777', '6777', '2775', '2767', '6767', '4767', '2765', '6765', '6775', '4755'];
const PRIV_GROUPS = { root: 0, nogroup: 65534 };
const PRIV_OPS = ['write', 'truncate', 'otrunc', 'ftruncate'];

const PREPARE_PRIVS = `
  set -e
  mkdir pub; chmod 777 pub
  for op in ${PRIV_OPS.join(' ')}; do
    for mode in ${PRIV_MODES.join(' ')}; do
      ${Object.entries(PRIV_GROUPS)
        .map(([name, gid]) => `f=pub/$op-$mode-${name}; printf abc > $f; chgrp ${gid} $f; chmod $mode $f`)
        .join('; ')}
    done
  done
`;

/** As the user: each call's errno name ('ok') and the file's mode afterwards, one line each. */
const PRIVS_DRIVER = `python3 - <<'EOF'
import os, errno
os.umask(0)
def name(e): return errno.errorcode.get(e.errno, str(e.errno))
def mode(p):
    try: return format(os.stat(p).st_mode & 0o7777, 'o')
    except OSError as e: return name(e)
def run(label, path, f):
    try:
        f()
        r = 'ok'
    except OSError as e:
        r = name(e)
    print(label, r, mode(path))
def write(p):
    fd = os.open(p, os.O_WRONLY)
    try: os.write(fd, b'x')
    finally: os.close(fd)
def ftrunc(p, flags=os.O_WRONLY, size=1):
    fd = os.open(p, flags)
    try: os.ftruncate(fd, size)
    finally: os.close(fd)
ops = {
    'write': write,
    'truncate': lambda p: os.truncate(p, 1),
    'otrunc': lambda p: os.close(os.open(p, os.O_WRONLY | os.O_TRUNC)),
    'ftruncate': ftrunc,
}
for op in ${JSON.stringify(PRIV_OPS)}:
    for m in ${JSON.stringify(PRIV_MODES)}:
        for g in ${JSON.stringify(Object.keys(PRIV_GROUPS))}:
            p = 'pub/%s-%s-%s' % (op, m, g)
            run('%s %s %s' % (op, m, g), p, lambda: ops[op](p))
# ftruncate goes by the descriptor (open for writing), not by the mode.
def created(p, m, size):
    fd = os.open(p, os.O_CREAT | os.O_RDWR, m)
    try:
        os.ftruncate(fd, size)
        os.write(fd, b'y')
    finally: os.close(fd)
run('ftruncate-mode-0', 'pub/n0', lambda: created('pub/n0', 0, 0))
run('ftruncate-mode-444', 'pub/n1', lambda: created('pub/n1', 0o444, 5))
def chmod_then_ftruncate(p):
    fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        os.write(fd, b'abcdef')
        os.fchmod(fd, 0o444)
        os.ftruncate(fd, 2)
        os.ftruncate(fd, 7)
    finally: os.close(fd)
run('ftruncate-after-chmod-444', 'pub/n2', lambda: chmod_then_ftruncate('pub/n2'))
run('truncate-mode-444', 'pub/n2', lambda: os.truncate('pub/n2', 0))
run('ftruncate-read-only-fd', 'pub/n2', lambda: ftrunc('pub/n2', os.O_RDONLY, 0))
EOF`;

/**
 * The extra attributes ext4 has no counterpart of: undeletable refuses removal (to root
 * too) and leaves writing alone; noowner shows every user as the owner and gives it the
 * owner's rights (root sees the real owner); noattrcache and nodatacache make the
 * kernel ask the mount every time (its .stats counts the requests), where a plain file is
 * answered from the kernel's caches. noentrycache is a directory's: noentrycacheOnTwoMounts.
 */
async function tsmfsOnlyFlags(m: Mount): Promise<void> {
  const cwd = m.path;
  await shOk('for f in undel noown noattr nodata plain; do echo data > flags/$f; chmod 666 flags/$f; done; chmod 600 flags/noown', { cwd });
  for (const [flag, f] of [['undeletable', 'undel'], ['noowner', 'noown'], ['noattrcache', 'noattr'], ['nodatacache', 'nodata']]) await tsmfs('seteattr', '-f', flag!, join(cwd, 'flags', f!));
  const user = await sh(script(['echo more >> flags/undel', 'rm flags/undel', 'mv flags/undel flags/u2', 'stat -c %u:%g:%a flags/noown', 'echo mine >> flags/noown && cat flags/noown', 'chmod 640 flags/noown']), { cwd, as: NOBODY });
  expect(user.stdout).toBe(
    [
      '-> 0: echo more >> flags/undel',
      "rm: cannot remove 'flags/undel': Operation not permitted",
      '-> 1: rm flags/undel',
      "mv: cannot move 'flags/undel' to 'flags/u2': Operation not permitted",
      '-> 1: mv flags/undel flags/u2',
      // MooseFS 3.0 shows it so too: the caller as owner, the owner's bits for all.
      '65534:65534:666',
      '-> 0: stat -c %u:%g:%a flags/noown',
      'data\nmine',
      '-> 0: echo mine >> flags/noown && cat flags/noown',
      '-> 0: chmod 640 flags/noown',
      '',
    ].join('\n'),
  );
  expect(await sh('rm flags/undel', { cwd })).toMatchObject({ code: 1, stderr: expect.stringMatching(/Operation not permitted/) });
  expect(await shOk('stat -c %u:%g:%a flags/noown', { cwd })).toBe('0:0:640\n');

  // Five stats of each file, five reads at offset 0 through one descriptor: the requests
  // that reached the mount (its .stats counters), one process for all.
  const counted = JSON.parse(
    await shOk(
      `python3 - <<'EOF'
import json, os, re
def stats(): return {k: int(v) for k, v in re.findall(r'^op_(\\w+): (\\d+)$', open('.stats').read(), re.M)}
def requests(prepare, repeat):
    prepare()
    before = stats()
    for i in range(5): repeat()
    after = stats()
    return {k: after.get(k, 0) - before.get(k, 0) for k in ('getattr', 'lookup', 'read')}
def stat5(f): return requests(lambda: os.stat('flags/' + f), lambda: os.stat('flags/' + f))
def read5(f):
    fd = os.open('flags/' + f, os.O_RDONLY)
    return requests(lambda: os.pread(fd, 4096, 0), lambda: os.pread(fd, 4096, 0))
print(json.dumps({'plainStat': stat5('plain'), 'noattr': stat5('noattr'), 'plainRead': read5('plain'), 'nodata': read5('nodata')}))
EOF`,
      { cwd },
    ),
  );
  expect(counted.noattr.getattr - counted.plainStat.getattr, JSON.stringify(counted)).toBeGreaterThanOrEqual(4);
  expect(counted.nodata.read - counted.plainRead.read, JSON.stringify(counted)).toBeGreaterThanOrEqual(4);
  await tsmfs('deleattr', '-f', 'undeletable', join(cwd, 'flags/undel'));
  await shOk('rm flags/undel', { cwd });
}

/**
 * Python that prints, as JSON, how many LOOKUPs five stat(2)s of each path cost the mount
 * (its .stats), after one stat to warm; not counting the one the second read of .stats
 * costs itself (a hidden entry, never kept by the kernel).
 */
function lookupsOfFiveStats(paths: string[]): string {
  return `python3 - <<'EOF'
import json, os, re
def lookups(): return int(re.search(r'^op_lookup: (\\d+)$', open('.stats').read(), re.M).group(1))
def five(p):
    os.stat(p)
    before = lookups()
    for i in range(5): os.stat(p)
    return lookups() - before - 1
print(json.dumps({p: five(p) for p in ${JSON.stringify(paths)}}))
EOF`;
}

/**
 * noentrycache, MooseFS's meaning (mfseattr(1): "prevents directory entries from being
 * cached in kernel"): set on a directory, the kernel of every mount keeps none of the names
 * in it (entry timeout 0: every path walk through them is a LOOKUP the mount answers, so a
 * change through another mount is seen at once whatever the leases), while the
 * directory's own name and a sibling directory's names stay cached. The flag set or
 * cleared by another session (the CLI) reaches a mount whose kernel holds those names
 * already. The names were made before the flag, so none has it itself (MooseFS never
 * puts it on a file).
 */
async function noentrycacheOnTwoMounts(c: Cluster, a: Mount): Promise<void> {
  const b = await c.mount();
  const cwd = a.path;
  await shOk('mkdir flags/noent flags/ent && for d in noent ent; do echo data > flags/$d/f; done', { cwd });
  const counts = async (): Promise<Record<string, number>> => JSON.parse(await shOk(lookupsOfFiveStats(['flags/noent/f', 'flags/ent/f', 'flags/noent']), { cwd }));
  const before = await counts();
  await tsmfs('seteattr', '-f', 'noentrycache', join(cwd, 'flags/noent'));
  expect(await tsmfs('geteattr', join(cwd, 'flags/noent'), join(cwd, 'flags/noent/f'))).toBe(`${join(cwd, 'flags/noent')}: noentrycache\n${join(cwd, 'flags/noent/f')}: -`);
  const flagged = await counts();
  const summary = JSON.stringify({ before, flagged });
  // Before: each name kept by A's kernel, no LOOKUP. Flagged: one LOOKUP per stat of a
  // name in the directory; the directory's own name (so those LOOKUPs are the name's) and
  // the sibling's names still kept. (With the old meaning, the node's own flag, the
  // directory's own name cost six LOOKUPs, and a stat of f the same six: the directory's.)
  expect(before['flags/noent/f'], summary).toBeLessThanOrEqual(1);
  expect(flagged['flags/noent/f'], summary).toBe(5);
  expect(flagged['flags/ent/f'], summary).toBeLessThanOrEqual(1);
  expect(flagged['flags/noent'], summary).toBeLessThanOrEqual(1);

  // B creates, renames and removes in the flagged directory: A sees each at once.
  await shOk('stat flags/noent/f flags/ent/f >/dev/null', { cwd });
  await shOk('echo new > flags/noent/new && mv flags/noent/f flags/noent/g && echo x > flags/noent/gone && rm flags/noent/gone', { cwd: b.path });
  expect(await sh('cat flags/noent/new flags/noent/g; stat flags/noent/f flags/noent/gone', { cwd })).toMatchObject({
    code: 1,
    stdout: 'new\ndata\n',
    stderr: expect.stringMatching(/cannot statx? 'flags\/noent\/f': No such file or directory\n.*cannot statx? 'flags\/noent\/gone': No such file or directory/s),
  });

  // A listing's READDIRPLUS entries (the kernel reads a directory from its start with
  // READDIRPLUS): kept by the kernel in the sibling, so a stat of each name listed costs
  // no LOOKUP; in the flagged directory one per name (not counting the .stats read's own).
  const listed: Record<string, { lookup: number; readdirplus: number; names: number }> = JSON.parse(
    await shOk(
      `python3 - <<'EOF'
import json, os, re
def ops(): return {k: int(v) for k, v in re.findall(r'^op_(\\w+): (\\d+)$', open('.stats').read(), re.M)}
def listed(d):
    os.stat(d)
    before = ops()
    names = os.listdir(d)
    for n in names: os.lstat(os.path.join(d, n))
    after = ops()
    return {'lookup': after['lookup'] - before['lookup'] - 1, 'readdirplus': after['readdirplus'] - before['readdirplus'], 'names': len(names)}
print(json.dumps({d: listed(d) for d in ('flags/noent', 'flags/ent')}))
EOF`,
      { cwd },
    ),
  );
  expect(listed, JSON.stringify(listed)).toEqual({
    'flags/noent': { lookup: 2, readdirplus: expect.any(Number), names: 2 },
    'flags/ent': { lookup: 0, readdirplus: expect.any(Number), names: 1 },
  });
  for (const d of Object.values(listed)) expect(d.readdirplus, JSON.stringify(listed)).toBeGreaterThanOrEqual(1);
  await tsmfs('deleattr', '-f', 'noentrycache', join(cwd, 'flags/noent'));
  const cleared = JSON.parse(await shOk(lookupsOfFiveStats(['flags/noent/g']), { cwd }));
  expect(cleared['flags/noent/g'], JSON.stringify(cleared)).toBeLessThanOrEqual(1);
  await b.unmount();
}

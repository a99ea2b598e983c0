/**
 * Permissions of the multi-user mount (allow_other + default_permissions + the master's
 * own checks) against ext4 (issue 4): the same commands as an unprivileged user
 * (setpriv --reuid=65534 --regid=65534 --clear-groups) in a tree prepared the same way
 * by root in the mount and in a local folder must be allowed and denied alike. Issue 9:
 * non-owner writes and truncates of setuid/setgid files, ftruncate through a descriptor.
 */
import { chmod } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, makeTempDir } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';

const NOBODY = { uid: 65534, gid: 65534 };

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
`;

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
];

function script(): string {
  return AS_USER.map((c) => `( ${c} ) 2>&1 | sed "s|$PWD/||g"; echo "-> \${PIPESTATUS[0]}: ${c.replaceAll('"', '\\"')}"`).join('\n');
}

/**
 * A cluster with a mount and a local (ext4) folder, both prepared by root with `prepare`;
 * `script` then runs in each as the user. `asRoot` runs a command in both afterwards.
 */
async function onExt4AndMount(prepare: string, script: string) {
  const c = await Cluster.create();
  await c.addChunkservers(1);
  const m = await c.mount();
  const local = makeTempDir();
  await chmod(local, 0o755);
  await shOk(prepare, { cwd: local });
  await shOk(prepare, { cwd: m.path });
  const [ext4, tsmfs] = [await sh(script, { cwd: local, as: NOBODY }), await sh(script, { cwd: m.path, as: NOBODY })];
  const asRoot = async (cmd: string) => ({ ext4: await shOk(cmd, { cwd: local }), tsmfs: await shOk(cmd, { cwd: m.path }) });
  return { ext4, tsmfs, asRoot };
}

describe('multi-user permissions', () => {
  it('an unprivileged user is denied and allowed as on ext4', async () => {
    const { ext4, tsmfs, asRoot } = await onExt4AndMount(PREPARE, script());
    expect(tsmfs.stdout).toBe(ext4.stdout);
    expect(ext4.stdout).toMatch(/Permission denied/);
    expect(ext4.stdout).toMatch(/Operation not permitted/);
    // and the trees agree afterwards (as root)
    const trees = await asRoot(`find . -printf '%y %m %U:%G %n %p\\n' | sort`);
    expect(trees.tsmfs).toBe(trees.ext4);
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

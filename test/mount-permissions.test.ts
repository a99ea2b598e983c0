/**
 * Permissions of the multi-user mount (allow_other + default_permissions + the master's
 * own checks) against ext4 (issue 4): the same commands as an unprivileged user
 * (setpriv --reuid=65534 --regid=65534 --clear-groups) in a tree prepared the same way
 * by root in the mount and in a local folder must be allowed and denied alike.
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

describe('multi-user permissions', () => {
  it('an unprivileged user is denied and allowed as on ext4', async () => {
    const c = await Cluster.create();
    await c.addChunkservers(1);
    const m = await Mount.start(c);
    const local = makeTempDir();
    await chmod(local, 0o755);
    await shOk(PREPARE, { cwd: local });
    await shOk(PREPARE, { cwd: m.path });
    const [a, b] = [await sh(script(), { cwd: local, as: NOBODY }), await sh(script(), { cwd: m.path, as: NOBODY })];
    expect(b.stdout).toBe(a.stdout);
    expect(a.stdout).toMatch(/Permission denied/);
    expect(a.stdout).toMatch(/Operation not permitted/);
    // and the trees agree afterwards (as root)
    const meta = `find . -printf '%y %m %U:%G %n %p\\n' | sort`;
    expect(await shOk(meta, { cwd: m.path })).toBe(await shOk(meta, { cwd: local }));
  });
});

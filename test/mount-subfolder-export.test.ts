/**
 * Issue 10, item 5, end to end: a mount of the export `/pub` cannot reach the rest of the
 * file system. The attacker is a local user of the mount's machine who reads the mount's
 * .masterinfo and attaches a tool session to it (exactly the mount's rights), then names
 * inode numbers outside /pub; the master must refuse every one with EPERM and change
 * nothing outside (inode 1 names the session's root, as in MooseFS). Inside /pub the
 * mount and the tools keep working.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Status } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { Cluster, Mount, REPO_ROOT } from './fixture/cluster.js';
import { shOk } from './fixture/mount-shell.js';

const ADMIN = 'admin-secret';
const root = { uid: 0, gid: 0, groups: [0] };
const TSMFS = `${process.execPath} ${join(REPO_ROOT, 'packages/cli/dist/bin/tsmfs.js')}`;

describe('a mount of a subfolder export', () => {
  it('is refused (EPERM) everything outside /pub, and works inside', async () => {
    const c = await Cluster.create({
      master: { exports: [`127.0.0.1 / rw,alldirs,maproot=0,password=${ADMIN}`, '127.0.0.1 /pub rw,maproot=0'] },
    });
    await c.addChunkservers(1);
    const admin = await c.session({ password: ADMIN });
    const pub = (await admin.mkdir(1, 'pub', 0o777)).inode;
    const secret = (await admin.mkdir(1, 'secret', 0o700)).inode;
    const shared = (await admin.mkdir(1, 'shared', 0o777)).inode;
    const loot = (await admin.mkdir(shared, 'loot', 0o777)).inode;
    const payroll = (await admin.create(secret, 'payroll.txt', 0o600)).inode;
    const f = await admin.openFile(payroll, 2);
    await f.write(0, Buffer.from('salaries\n'));
    await f.close();
    await admin.mkdir(pub, 'a', 0o777);

    const m = await c.mount({ subdir: '/pub' });
    const info = JSON.parse(readFileSync(join(m.path, '.masterinfo'), 'utf8')) as { sessionId: number };
    const tool = await c.session({ role: 'cli', attach: info.sessionId });
    const refused = async (what: string, p: Promise<unknown>) => {
      const outcome = await p.then(
        () => 'served',
        (err: { status?: number }) => (err.status === Status.EPERM ? 'EPERM' : `status ${err.status}`),
      );
      expect({ what, outcome }).toEqual({ what, outcome: 'EPERM' });
    };
    // Inode 1 is the mount's own root for this session, as with MooseFS: /pub, nothing above it.
    expect((await tool.readdir(1)).map((e) => e.name)).toEqual(['a']);
    await refused('lookup /secret/payroll.txt', tool.lookup(secret, 'payroll.txt', { cred: root }));
    await refused('getattr of payroll.txt', tool.getattr(payroll));
    await refused('read grant of payroll.txt', tool.call('readChunk', { inode: payroll, index: 0 }));
    await refused('mkdir in /shared', tool.mkdir(shared, 'x', 0o777, { cred: root }));
    await refused('rename /shared/loot into /pub', tool.rename(shared, 'loot', pub, 'loot', 0, { cred: root }));
    await refused('rename /pub/a out to /shared', tool.rename(pub, 'a', shared, 'a', 0, { cred: root }));
    await refused('snapshot /secret into /pub/copy', tool.snapshot(secret, pub, 'copy', { cred: root }));
    await refused('link payroll.txt into /pub', tool.link(payroll, pub, 'p', { cred: root }));
    expect(await tool.setgoal(1, 3, { cred: root, recursive: true })).toEqual({ changed: 2, notChanged: 0, denied: 0 });
    tool.close();

    // Nothing outside moved, nothing came in.
    expect((await admin.readdir(shared)).map((e) => e.name)).toEqual(['loot']);
    expect((await admin.lookup(shared, 'loot')).inode).toBe(loot);
    expect((await admin.readdir(pub)).map((e) => e.name)).toEqual(['a']);
    expect((await admin.getattr(1)).goal).toBe(1);
    expect((await admin.getattr(payroll)).goal).toBe(1);

    // Inside, the mount and the tools work as before.
    const out = await shOk(`
      set -e
      cd ${m.path}
      echo hello > a/f
      cat a/f
      mkdir -p a/b/c && mv a/b a/moved
      ${TSMFS} setgoal -r 2 . >/dev/null
      ${TSMFS} makesnapshot a a-copy
      cat a-copy/f
      ls -A | sort | tr '\\n' ' '
    `);
    expect(out.split('\n').filter(Boolean)).toEqual(['hello', 'hello', 'a a-copy ']);
    expect((await admin.getattr(pub)).goal).toBe(2);
    expect((await admin.getattr(1)).goal).toBe(1);
    admin.close();
    await m.unmount();
  });
});

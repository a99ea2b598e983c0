/**
 * Mounting the way an administrator does (issue 13, item 9): `tsmfs-mount` with an
 * options file (mfsmount.cfg's format: defaults, the masters, a default mount point) and
 * `mount.tsmfs`, the helper mount(8) runs for `mount -t tsmfs` and fstab lines, called
 * with mount(8)'s own arguments. Both daemonize and return once mounted, as mfsmount does.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fuseUnmount, isMounted } from '@tsmfs/launcher';
import { describe, expect, it } from 'vitest';
import { BIN, Cluster, REPO_ROOT, makeTempDir } from './fixture/cluster.js';
import { sh, shOk } from './fixture/mount-shell.js';

const HELPER = join(REPO_ROOT, 'packages/mount/dist/bin/mount-tsmfs.js');

describe('mounting as an administrator does', () => {
  it('tsmfs-mount -c FILE (masters, options and the mount point from the file, the command line winning); mount.tsmfs with mount(8)\'s arguments', { timeout: 120_000 }, async () => {
    const c = await Cluster.create();
    await c.addChunkservers(1);
    const s = await c.session();
    await s.mkdir(s.root, 'sub');
    const dir = makeTempDir('tsmfs-helper-');
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const cfg = join(dir, 'tsmfsmount.cfg');
    writeFileSync(cfg, `# like /etc/mfs/mfsmount.cfg\nmfsmaster=127.0.0.1,mfsport=${c.master.ports.matocl}\nmfssubfolder=/sub\n${mnt}\n`);
    try {
      await shOk(`node ${BIN.mount} -c ${cfg}`);
      expect(isMounted(mnt)).toBe(true);
      writeFileSync(join(mnt, 'f'), 'through the file\n');
      expect((await s.lookup((await s.lookup(s.root, 'sub')).inode, 'f')).size).toBe(17);
      await fuseUnmount(mnt);
      // -S on the command line over the file's mfssubfolder; -o mfscfgfile= names the file too.
      await shOk(`node ${BIN.mount} -o mfscfgfile=${cfg} -S / ${mnt}`);
      expect(await readFile(join(mnt, 'sub/f'), 'utf8')).toBe('through the file\n');
      await fuseUnmount(mnt);
      const bad = await sh(`node ${BIN.mount} -c ${join(dir, 'missing.cfg')}`);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain(`options file ${join(dir, 'missing.cfg')}: ENOENT`);

      // mount.tsmfs takes what mount(8) passes: SPEC DIR -o, fstab's own options left out; -f mounts nothing.
      const projects = await s.mkdir(s.root, 'projects');
      await s.mkdir(projects.inode, 'a');
      const spec = `127.0.0.1:${c.master.ports.matocl}:/projects`;
      // What mount(8) runs for `mfsmaster:PORT:/projects DIR tsmfs defaults,_netdev,nofail,x-systemd.automount,mfsattrcacheto=2`.
      expect((await sh(`node ${HELPER} ${spec} ${mnt} -f -o rw,defaults,_netdev,nofail,x-systemd.automount,mfsattrcacheto=2`)).code).toBe(0);
      expect(isMounted(mnt)).toBe(false);
      await shOk(`node ${HELPER} ${spec} ${mnt} -n -o rw,defaults,_netdev,nofail,x-systemd.automount,mfsattrcacheto=2`);
      expect(isMounted(mnt)).toBe(true);
      expect((await shOk(`ls ${mnt}`)).trim()).toBe('a');
      await fuseUnmount(mnt);
      const badSpec = await sh(`node ${HELPER} 127.0.0.1:${c.master.ports.matocl}:projects ${mnt}`);
      expect(badSpec.code).not.toBe(0);
      expect(badSpec.stderr).toContain("must start with '/'");
      expect((await sh(`node ${HELPER} ${spec} ${mnt} -N 1234`)).stderr).toContain('-N (another mount namespace) is not supported');
    } finally {
      await fuseUnmount(mnt);
    }
  });
});

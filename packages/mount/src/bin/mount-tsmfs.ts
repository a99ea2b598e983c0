/**
 * mount.tsmfs: the helper mount(8) runs for `mount -t tsmfs` and /etc/fstab lines (as
 * mount.moosefs is MooseFS's), e.g.
 *
 *     mfsmaster:9421:/ /mnt/tsmfs tsmfs defaults,_netdev,mfsattrcacheto=2 0 0
 *
 * mount(8) calls `mount.tsmfs SPEC DIR [-sfnv] [-N NS] [-o OPTIONS]`; this turns that
 * into `tsmfs-mount SPEC DIR -o OPTIONS`, leaving out the options that are mount(8)'s
 * and fstab's own (defaults, _netdev, nofail, x-…), and returns once it is mounted.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { splitOptions } from '../mount-options.js';

const USAGE = `Usage: mount.tsmfs HOST[:PORT]:[PATH] MOUNTPOINT [-sfnv] [-o OPTIONS]
Called by mount(8) for \`mount -t tsmfs\` and /etc/fstab lines of type tsmfs; the options are
tsmfs-mount's (tsmfs-mount --help) and FUSE's. Link it as /sbin/mount.tsmfs (docs/deployment.md).`;

/** Options that mean something to mount(8), fstab or systemd only, never to the file system. */
function mountsOwn(key: string): boolean {
  return ['defaults', 'auto', 'noauto', 'user', 'users', 'nouser', 'owner', 'group', '_netdev', 'nofail', 'rw', 'comment'].includes(key) || key.startsWith('x-');
}

function main(argv: string[]): number {
  const positional: string[] = [];
  const options: string[] = [];
  let fake = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (a === '-o') options.push(argv[++i] ?? '');
    else if (a.startsWith('-o')) options.push(a.slice(2));
    else if (a === '-N' || a.startsWith('-N')) {
      process.stderr.write('mount.tsmfs: -N (another mount namespace) is not supported\n');
      return 1;
    } else if (a === '-t') i++; // the type (tsmfs, or tsmfs.SUBTYPE): ours by definition
    else if (/^-[sfnv]+$/.test(a)) fake ||= a.includes('f'); // sloppy, no mtab and verbose change nothing here
    else if (a.startsWith('-')) {
      process.stderr.write(`mount.tsmfs: unknown flag ${a}\n${USAGE}\n`);
      return 1;
    } else positional.push(a);
  }
  if (positional.length !== 2) {
    process.stderr.write(`${USAGE}\n`);
    return 1;
  }
  const kept = splitOptions(options)
    .filter(([k]) => !mountsOwn(k))
    .map(([k, v]) => (v === undefined ? k : `${k}=${v.replaceAll(',', '\\,')}`));
  // -f: mount(8)'s "fake" mount (everything but the mount itself): nothing to do.
  if (fake) return 0;
  const bin = fileURLToPath(new URL('./tsmfs-mount.js', import.meta.url));
  const args = [bin, positional[0]!, positional[1]!, ...(kept.length ? ['-o', kept.join(',')] : [])];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

process.exit(main(process.argv.slice(2)));

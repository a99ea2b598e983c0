import { join, resolve } from 'node:path';

/** The checkout this launcher belongs to: it starts the daemons built there (packages/NAME/dist). */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');

/** The built entry point of each program; TSMFS_MASTER_BIN runs another build of the master. */
export const BIN = {
  master: process.env.TSMFS_MASTER_BIN ?? join(REPO_ROOT, 'packages/master/dist/bin/tsmfs-master.js'),
  chunkserver: join(REPO_ROOT, 'packages/chunkserver/dist/bin/tsmfs-chunkserver.js'),
  metalogger: join(REPO_ROOT, 'packages/metalogger/dist/bin/tsmfs-metalogger.js'),
  metarestore: join(REPO_ROOT, 'packages/master/dist/bin/tsmfs-metarestore.js'),
  mount: join(REPO_ROOT, 'packages/mount/dist/bin/tsmfs-mount.js'),
} as const;

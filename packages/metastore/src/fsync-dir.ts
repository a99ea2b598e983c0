import { open } from 'node:fs/promises';

/** Makes renames and creations in `dir` durable: a rename is only as safe as its directory. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

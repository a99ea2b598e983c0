/**
 * Chunk files are durable with their names (issue 10, small item): a new chunk file and a
 * version rename live in the disk's subfolder, so a sync of the data must also sync that
 * directory, or a chunk the client fsynced can vanish in a power loss. Power loss cannot
 * be staged here; what the kernel is asked to do can be watched: strace, on the built
 * ChunkFile.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, makeTempDir } from './fixture/cluster.js';

const SCRIPT = `
import { ChunkFile } from '@tsmfs/chunkserver';
import { join } from 'node:path';
const dir = process.argv[1];
const f = await ChunkFile.create(join(dir, 'chunk_0000000000000001_00000001.tsmfs'), 1, 1);
await f.write(0, Buffer.from('bytes the client fsyncs'));
await f.sync();   // new file: its name is synced too
await f.sync();   // nothing new in the directory
await f.setVersion(2, join(dir, 'chunk_0000000000000001_00000002.tsmfs'));
await f.sync();   // renamed: synced again
await f.close();
`;

describe('chunk file durability', () => {
  it('a sync after a chunk file is created or renamed to a new version also fsyncs its directory, once', () => {
    const dir = makeTempDir('tsmfs-fsync-');
    const folder = join(dir, '01');
    mkdirSync(folder);
    const trace = join(dir, 'trace');
    const r = spawnSync('strace', ['-f', '-y', '-e', 'trace=fsync,fdatasync', '-o', trace, process.execPath, '--input-type=module', '-e', SCRIPT, folder], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const calls = readFileSync(trace, 'utf8').split('\n').filter((l) => /f(data)?sync\(\d+</.test(l));
    const onDir = calls.filter((l) => l.includes(`<${folder}>`));
    expect(onDir, calls.join('\n')).toHaveLength(2);
    expect(onDir.every((l) => /\bfsync\(/.test(l))).toBe(true);
  });
});

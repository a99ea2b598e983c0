/**
 * Chunk files are durable with their names (issue 10, small item): a new chunk file and a
 * version rename live in the disk's subfolder, so a sync of the data must also sync that
 * directory, or a chunk the client fsynced can vanish in a power loss. Power loss cannot
 * be staged here; what the kernel is asked to do can be watched: strace, on the built
 * ChunkFile. Likewise how often a chunk's 8 KiB header is written.
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

/** Runs `script` (an ES module; argv[1] is `folder`) under strace and returns the traced lines. */
function traced(script: string, syscalls: string, folder: string): string[] {
  const trace = join(folder, '..', 'trace');
  const r = spawnSync('strace', ['-f', '-y', '-e', `trace=${syscalls}`, '-o', trace, process.execPath, '--input-type=module', '-e', script, folder], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(trace, 'utf8').split('\n');
}

function chunkFolderIn(prefix: string): string {
  const folder = join(makeTempDir(prefix), '01');
  mkdirSync(folder);
  return folder;
}

/** 16 whole-block writes, then close; only APIs old main has too. */
const HEADER_WRITES_SCRIPT = `
import { ChunkFile } from '@tsmfs/chunkserver';
import { join } from 'node:path';
const f = await ChunkFile.create(join(process.argv[1], 'chunk_0000000000000001_00000001.tsmfs'), 1, 1);
for (let i = 0; i < 16; i++) await f.write(i * 65536, Buffer.alloc(65536, i));
await f.close();
`;

describe('chunk file durability', () => {
  it('a sync after a chunk file is created or renamed to a new version also fsyncs its directory, once', () => {
    const folder = chunkFolderIn('tsmfs-fsync-');
    const calls = traced(SCRIPT, 'fsync,fdatasync', folder).filter((l) => /f(data)?sync\(\d+</.test(l));
    const onDir = calls.filter((l) => l.includes(`<${folder}>`));
    expect(onDir, calls.join('\n')).toHaveLength(2);
    expect(onDir.every((l) => /\bfsync\(/.test(l))).toBe(true);
  });

  // docs/chunkserver.md, "The header stays in memory while the chunk is written".
  it('16 pieces written to a chunk write its 8 KiB header once at the end, not once per piece', () => {
    const onChunk = traced(HEADER_WRITES_SCRIPT, 'pwrite64,pwritev', chunkFolderIn('tsmfs-header-')).filter((l) => l.includes('.tsmfs>'));
    const header = onChunk.filter((l) => /, 8192, 0\) = 8192$/.test(l));
    const data = onChunk.filter((l) => /, 65536, \d+\) = 65536$/.test(l));
    expect(data, onChunk.join('\n')).toHaveLength(16);
    // The create's header, then the one close writes.
    expect(header, onChunk.join('\n')).toHaveLength(2);
  });
});

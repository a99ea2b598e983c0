/**
 * Where a chunk file lives on a disk: one of 256 subfolders, `00`–`FF`.
 */

/** Subfolder `n` (0–255) of a disk: two upper-case hex digits, `00`–`FF`. */
export function folderName(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}

/**
 * Subfolder of a chunk: bits 16–23 of its id, as MooseFS 3.0 places them (its
 * chunkserver's strace on this machine: chunks 0xA0–0x7D4 all in `00`). The master
 * hands out ids in order, so the chunks made one after the other share a folder whose
 * blocks are in memory: creating one took ext4 0.1–0.2 ms there against 0.6–1.3 ms when
 * each new chunk went to the next of the 256 folders (the id's low byte, tsmfs until
 * 2026-12-03; docs/benchmarks.md, "Chunk folders as MooseFS's"). Arithmetic, not bit
 * operators: ids go past 32 bits.
 */
export function chunkFolder(chunkId: number): string {
  return folderName(Math.floor(chunkId / 65_536) % 256);
}

/** Where tsmfs placed a chunk until 2026-12-03: its id's low byte. The scan moves such files (scanFolders). */
export function legacyChunkFolder(chunkId: number): string {
  return folderName(chunkId % 256);
}

import type { ChunkManager } from './chunk-manager.js';
import { isOnline } from './chunkserver-registry.js';

/** A disk of a chunkserver, as the removal progress is keyed. */
export function diskKey(csid: number, path: string): string {
  return `${csid}:${path}`;
}

/**
 * How far the emptying of every disk marked for removal (`*` in the hdd file) has come:
 * per disk, the copies on it whose chunk still has fewer copies elsewhere (on disks not
 * marked) than its goal — the copies that would take data with them if the disk went now.
 * 0: the disk can be removed ("ready"). Counted afresh by every pass of the chunk loop;
 * a disk not counted yet (before the first pass after its server reported) is absent.
 */
export class RemovalProgress {
  private counting = new Map<string, number>();
  private last = new Map<string, number>();

  /** Starts a pass's count: every marked disk of an online server at 0. */
  begin(chunks: ChunkManager): void {
    this.counting = new Map();
    for (const cs of chunks.registry.all()) {
      if (!isOnline(cs)) continue;
      for (const d of cs.disks) if (d.markedForRemoval && d.damaged === undefined) this.counting.set(diskKey(cs.csid, d.path), 0);
    }
  }

  /** Counts chunk `id`'s valid copies on marked disks when it has fewer than `goal` elsewhere. */
  count(chunks: ChunkManager, id: number, version: number, goal: number): void {
    let elsewhere = 0;
    const marked: string[] = [];
    for (const [csid, copy] of chunks.copies.of(id)) {
      const cs = chunks.registry.get(csid);
      if (!cs || !isOnline(cs) || copy.version !== version || copy.damaged) continue;
      if (copy.markedDisk === undefined) elsewhere++;
      else marked.push(diskKey(csid, copy.markedDisk));
    }
    if (elsewhere >= goal) return;
    for (const key of marked) this.counting.set(key, (this.counting.get(key) ?? 0) + 1);
  }

  /** Ends a pass's count: it becomes what `left` answers. */
  end(): void {
    this.last = this.counting;
  }

  /** Copies left to copy elsewhere from that disk; undefined when not counted yet. */
  left(csid: number, path: string): number | undefined {
    return this.last.get(diskKey(csid, path));
  }
}

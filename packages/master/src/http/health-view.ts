import type { ChunkManager } from '../chunks/chunk-manager.js';
import { isOnline } from '../chunks/chunkserver-registry.js';
import { chunkClasses } from '../chunks/replication.js';
import type { Metadata } from '../metadata/metadata.js';

/** MooseFS's chunk classes of the health matrix (mfscli -SIC, the CGI's colours). */
export interface HealthClasses {
  /** No valid copy (goal 1+). */
  missing: number;
  /** One valid copy where the goal wants more. */
  endangered: number;
  /** Fewer copies than the goal, but at least two. */
  undergoal: number;
  stable: number;
  overgoal: number;
  /** No file holds the chunk (goal 0) and copies of it are still there. */
  pendingDeletion: number;
  /** No file holds the chunk and no copy is left: gone at the next pass. */
  toBeRemoved: number;
}

/**
 * Chunks counted by goal (rows 0-9 and 10+) and valid copies (columns 0-9 and 10+), as
 * mfscli -SIC and the CGI's matrix. A chunk's goal is the number of copies its storage
 * class keeps: its keep labels, or its archive labels once archived (as MooseFS counts it);
 * 0 for a chunk no file holds.
 */
export interface HealthView {
  /** matrix[goal][copies], every valid copy counted (MooseFS's "all chunks" matrix). */
  matrix: number[][];
  /** The same counting only copies on disks not marked for removal ("regular chunks"). */
  regular: number[][];
  /** The last row and column: that many or more. */
  maxColumn: number;
  /** Each matrix's chunks by MooseFS's classes. */
  classes: { all: HealthClasses; regular: HealthClasses };
  /** From `matrix`: no valid copy, fewer than the goal (endangered included), more, as many. */
  lost: number;
  underGoal: number;
  overGoal: number;
  ok: number;
}

const MAX_COLUMN = 10;

/** Which of MooseFS's classes a cell of the matrix is. */
export function healthClass(goal: number, copies: number): keyof HealthClasses {
  if (goal === 0) return copies === 0 ? 'toBeRemoved' : 'pendingDeletion';
  if (copies === 0) return 'missing';
  if (copies > goal) return 'overgoal';
  if (copies < goal) return copies === 1 ? 'endangered' : 'undergoal';
  return 'stable';
}

const noClasses = (): HealthClasses => ({ missing: 0, endangered: 0, undergoal: 0, stable: 0, overgoal: 0, pendingDeletion: 0, toBeRemoved: 0 });

export function healthView(src: { md: () => Metadata; chunks: ChunkManager }, nowSec = Math.floor(Date.now() / 1000)): HealthView {
  const md = src.md();
  const { classes, archived } = chunkClasses(md, nowSec);
  const grid = () => Array.from({ length: MAX_COLUMN + 1 }, () => new Array<number>(MAX_COLUMN + 1).fill(0));
  const out: HealthView = { matrix: grid(), regular: grid(), maxColumn: MAX_COLUMN, classes: { all: noClasses(), regular: noClasses() }, lost: 0, underGoal: 0, overGoal: 0, ok: 0 };
  const cell = (n: number) => Math.min(MAX_COLUMN, n);
  const add = (goal: number, copies: number, onRegular: number) => {
    out.matrix[cell(goal)]![cell(copies)]!++;
    out.regular[cell(goal)]![cell(onRegular)]!++;
    out.classes.all[healthClass(goal, copies)]++;
    out.classes.regular[healthClass(goal, onRegular)]++;
    // Chunks no file holds (goal 0) wait for deletion: not a health problem.
    if (goal === 0) return;
    if (copies === 0) out.lost++;
    else if (copies < goal) out.underGoal++;
    else if (copies > goal) out.overGoal++;
    else out.ok++;
  };
  for (const id of md.chunks.ids()) {
    const sclass = classes.get(id);
    const rules = sclass === undefined ? undefined : md.sclasses.rules(sclass);
    const goal = rules === undefined ? 0 : archived.has(id) ? rules.archive.length : rules.keep.length;
    const valid = src.chunks.validServers(id);
    // A copy on a disk marked for removal counts in "all" only (MooseFS's two matrices).
    const onRegular = valid.filter((cs) => src.chunks.copies.get(id, cs.csid)?.markedDisk === undefined).length;
    add(goal, valid.length, onRegular);
  }
  // Freed chunks wait in toDelete until no server holds a copy: MooseFS's goal-0 row
  // ("pending deletion" while copies are left, "to be removed" once none is).
  for (const id of md.chunks.toDelete) {
    let copies = 0;
    let onRegular = 0;
    for (const [csid, copy] of src.chunks.copies.of(id)) {
      const cs = src.chunks.registry.get(csid);
      if (!cs || !isOnline(cs)) continue;
      copies++;
      if (copy.markedDisk === undefined) onRegular++;
    }
    add(0, copies, onRegular);
  }
  return out;
}

import type { ChunkManager } from '../chunks/chunk-manager.js';
import { assignCopies, judgeCopies } from '../chunks/label-placement.js';
import { usagePercent } from '../chunks/rebalance.js';
import { chunkClasses } from '../chunks/replication.js';
import { freeSpace } from '../chunks/chunkserver-registry.js';
import type { Metadata } from '../metadata/metadata.js';
import { type LabelExpr, mooseLabelExpr } from '../sclass/label-expr.js';
import { nodesByClass } from '../sclass/sclass-apply.js';
import type { SClassDef } from '../sclass/sclass-table.js';

/** One storage class as the monitor and tsmfs-cli -SSC show it (MooseFS's "Storage Classes" tab). */
export interface SClassView extends SClassDef {
  id: number;
  files: number;
  dirs: number;
  /** The class's chunks by state against the labels they must be on now (keep, or archive once archived). */
  chunks: { total: number; archived: number; lost: number; underGoal: number; misplaced: number; overGoal: number; ok: number };
  /**
   * The chunks by valid copies against the goal (the copies the labels they must be on
   * name), not archived and archived apart: mfscli -SSC's "under / exact / over" columns.
   */
  copies: { standard: CopyCounts; archived: CopyCounts };
  /** Each labels expression as mfscli -SSC prints it: per copy its terms joined by '+' ('*' any), copies by ' , '. */
  shown: { create: string; keep: string; archive: string };
  /** Whether the online chunkservers can hold every copy on matching servers (MooseFS: "can be fulfilled"). */
  canCreate: boolean;
  canKeep: boolean;
  canArchive: boolean;
}

export interface CopyCounts {
  under: number;
  exact: number;
  over: number;
}

/** mfscli's form of an expression: mfsscadmin's without the brackets around each copy. */
const shownExpr = (expr: LabelExpr) => mooseLabelExpr(expr).replace(/[[\]]/g, '');

export function sclassesView(md: Metadata, chunks: ChunkManager, nowSec = Math.floor(Date.now() / 1000)): SClassView[] {
  const online = chunks.registry.online();
  const fulfilled = (expr: LabelExpr) => assignCopies(expr, online).bySlot.every((cs) => cs !== undefined);
  const used = nodesByClass(md);
  const views = new Map<number, SClassView>();
  for (const id of md.sclasses.ids()) {
    const rules = md.sclasses.rules(id);
    views.set(id, {
      id,
      ...md.sclasses.get(id)!,
      files: used.get(id)?.files ?? 0,
      dirs: used.get(id)?.dirs ?? 0,
      chunks: { total: 0, archived: 0, lost: 0, underGoal: 0, misplaced: 0, overGoal: 0, ok: 0 },
      copies: { standard: { under: 0, exact: 0, over: 0 }, archived: { under: 0, exact: 0, over: 0 } },
      shown: { create: shownExpr(rules.create), keep: shownExpr(rules.keep), archive: shownExpr(rules.archive) },
      canCreate: fulfilled(rules.create),
      canKeep: fulfilled(rules.keep),
      canArchive: fulfilled(rules.archive),
    });
  }
  const { classes, archived } = chunkClasses(md, nowSec);
  for (const [chunk, id] of classes) {
    const view = views.get(id);
    if (!view) continue;
    const c = view.chunks;
    c.total++;
    if (archived.has(chunk)) c.archived++;
    const expr = archived.has(chunk) ? md.sclasses.rules(id).archive : md.sclasses.rules(id).keep;
    const valid = chunks.validServers(chunk);
    const { missing, extra } = judgeCopies(expr, valid, usagePercent, freeSpace);
    const byCount = view.copies[archived.has(chunk) ? 'archived' : 'standard'];
    if (valid.length < expr.length) byCount.under++;
    else if (valid.length > expr.length) byCount.over++;
    else byCount.exact++;
    if (valid.length === 0) c.lost++;
    else if (valid.length < expr.length) c.underGoal++;
    else if (missing.length > 0) c.misplaced++;
    else if (extra.length > 0) c.overGoal++;
    else c.ok++;
  }
  return [...views.values()];
}

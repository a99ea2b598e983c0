import type { Timespec } from '@tsmfs/protocol';
import { type LabelExpr, parseLabelExpr } from './label-expr.js';

/**
 * MooseFS 3.0's storage classes (mfsscadmin(1)): a named set of labels expressions
 * saying on which chunkservers a file's chunks are created (`create`), kept (`keep`)
 * and kept once archived (`archive`, after `archiveDelay` days without a change), and
 * what to do when no matching server can take a copy (`mode`).
 *
 * A node refers to its class by id in the `goal` column (u8): classes 1–9 exist from
 * the start, named "1".."9" and defined as that many copies anywhere, so every goal is
 * the class of the same number and `setgoal N` is `setsclass N`. This file is the data
 * only: the definitions and their changelog entries; sclass-requests.ts decides.
 */
export type CreateMode = 'default' | 'strict' | 'loose';

export interface SClassDef {
  name: string;
  /** Only an admin session may give a node this class (mfsscadmin -a 1). */
  adminOnly: boolean;
  mode: CreateMode;
  /** Labels expressions as given (spaces dropped, upper case); '' for create/archive: none (keep's used). */
  create: string;
  keep: string;
  archive: string;
  /** Days since the last change after which a file counts as archived (mfsscadmin -d). */
  archiveDelay: number;
}

/** The changelog entry of create, change, rename, copy and delete alike: the class as it is after (null: gone). */
export type SClassMutation =
  | { op: 'sclass'; ts: Timespec; id: number; def: SClassDef | null }
  /**
   * setsclass (and xchgsclass with `from`: only nodes now in that class) on a node or its
   * tree; apply repeats setgoal's per-node rule (the owner or root).
   */
  | { op: 'setsclass'; ts: Timespec; inode: number; id: number; from?: number; recursive: boolean; uid: number }
  /**
   * setarchive (`on`) / clrarchive on the files of a node's tree (mfsarchive(1)); clrarchive
   * also moves their ctime to `ts`, so that the archive delay counts again from now.
   */
  | { op: 'archive'; ts: Timespec; inode: number; on: boolean; uid: number };

/** Ids 1..9 are the predefined goals; ids are stored in a u8 column. */
export const PREDEFINED = 9;
export const MAX_SCLASS_ID = 255;
/** MooseFS's MAXSCLASSNAMELENG. */
export const MAX_SCLASS_NAME = 255;

interface Parsed {
  create: LabelExpr;
  keep: LabelExpr;
  archive: LabelExpr;
}

/** What the dump holds: the classes that are not predefined as they were made, and the files setarchive archived. */
export interface SClassDump {
  classes: [number, SClassDef][];
  archived: number[];
}

/** The definitions by id, with their parsed expressions. */
export class SClassTable {
  private readonly defs = new Map<number, SClassDef>();
  private readonly parsed = new Map<number, Parsed>();
  /** Files archived by setarchive (the archive delay archives the others by their ctime: sclass-apply.ts). */
  readonly archived = new Set<number>();

  constructor() {
    for (let id = 1; id <= PREDEFINED; id++) this.set(id, predefined(id));
  }

  get(id: number): SClassDef | undefined {
    return this.defs.get(id);
  }

  /** The class's parsed expressions; an unknown id (a node from a damaged dump) reads as its number of copies anywhere. */
  rules(id: number): Parsed {
    return this.parsed.get(id) ?? parseDef(predefined(Math.min(PREDEFINED, Math.max(1, id))));
  }

  /** Copies the class keeps (MooseFS's "goal" of a class): what realsize and the health matrix count. */
  copies(id: number): number {
    return this.rules(id).keep.length;
  }

  byName(name: string): number | undefined {
    for (const [id, def] of this.defs) if (def.name === name) return id;
    return undefined;
  }

  ids(): number[] {
    return [...this.defs.keys()].sort((a, b) => a - b);
  }

  /** The lowest free id, or undefined when all 255 are taken. */
  freeId(): number | undefined {
    for (let id = PREDEFINED + 1; id <= MAX_SCLASS_ID; id++) if (!this.defs.has(id)) return id;
    return undefined;
  }

  set(id: number, def: SClassDef | null): void {
    if (def === null) {
      this.defs.delete(id);
      this.parsed.delete(id);
      return;
    }
    this.defs.set(id, { ...def });
    this.parsed.set(id, parseDef(def));
  }

  /** The dumped part: every class but the predefined ones as they were made, and the archived files. */
  toJSON(): SClassDump {
    const classes = this.ids()
      .filter((id) => !sameDef(this.defs.get(id)!, id <= PREDEFINED ? predefined(id) : undefined))
      .map((id): [number, SClassDef] => [id, this.defs.get(id)!]);
    return { classes, archived: [...this.archived] };
  }

  /** Rows over the predefined classes; a predefined id missing from the rows keeps its definition. */
  static fromJSON(dump: SClassDump): SClassTable {
    const table = new SClassTable();
    for (const [id, def] of dump.classes) {
      if (!Number.isInteger(id) || id < 1 || id > MAX_SCLASS_ID) throw new Error(`storage class id ${id}`);
      table.set(id, def);
    }
    for (const inode of dump.archived) table.archived.add(inode);
    return table;
  }
}

export function predefined(id: number): SClassDef {
  return { name: String(id), adminOnly: false, mode: 'default', create: '', keep: `${id}*`, archive: '', archiveDelay: 0 };
}

function parseDef(def: SClassDef): Parsed {
  const keep = parseLabelExpr(def.keep);
  return { keep, create: def.create === '' ? keep : parseLabelExpr(def.create), archive: def.archive === '' ? keep : parseLabelExpr(def.archive) };
}

function sameDef(a: SClassDef, b: SClassDef | undefined): boolean {
  return b !== undefined && (Object.keys(b) as (keyof SClassDef)[]).every((k) => a[k] === b[k]);
}

/** Applies a class entry: the definition is stored as given (validated by the leader). */
export function applySClass(table: SClassTable, m: Extract<SClassMutation, { op: 'sclass' }>): void {
  table.set(m.id, m.def);
}

/**
 * The failover drill's workload and its checker (issue 12, "What must be shown"; docs/ha.md,
 * "The failover drill"): one piece of code for the e2e test (test/ha-failover-drill.test.ts)
 * and the benchmark (bench/ha.js --drill).
 *
 * The workload runs on a mounted tsmfs (real FUSE, plain fs calls): each worker owns a
 * directory and a small pool of names, and writes files of known content (create +
 * write + close, or an overwrite), renames them (to a free name or over another file)
 * and removes them. Names are reused all the time, so an operation applied twice shows
 * (an unlink applied again removes the file made after it; a rename applied again moves
 * the wrong file). Every operation is recorded: invoked, then ok / failed (an errno) /
 * unknown (anything else). A worker never touches a name again once an operation on it
 * ended other than ok: its outcome is not known, the checker allows exactly the state
 * before or the state after it.
 *
 * The checker replays each worker's acknowledged operations into the state the
 * directory must have, and compares it with what the mount shows, byte for byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type DrillOpKind = 'write' | 'rename' | 'unlink';
export type DrillOutcome = 'invoked' | 'ok' | 'failed' | 'unknown';

export interface DrillOp {
  worker: number;
  /** Order within the worker (one operation at a time per worker). */
  seq: number;
  kind: DrillOpKind;
  name: string;
  /** rename's destination. */
  to?: string;
  /** write: the content's sha256 (hex) and size. */
  sha?: string;
  size?: number;
  /** ms, performance.now() of this process. */
  invokedAt: number;
  doneAt?: number;
  outcome: DrillOutcome;
  error?: string;
}

export interface DrillOptions {
  /** The mount's directory the workers work under (w0, w1, … are made in it). */
  root: string;
  workers?: number;
  /** Names per worker. */
  names?: number;
  /** Largest file written (bytes). */
  maxSize?: number;
}

/** A name's state: absent, or a file with this content. */
type FileState = { sha: string; size: number } | undefined;

const ERRNO = /^E[A-Z0-9]+$/;

export class DrillWorkload {
  readonly history: DrillOp[] = [];
  private stopping = false;
  private running: Promise<void>[] = [];
  private readonly workers: number;
  private readonly names: number;
  private readonly maxSize: number;

  constructor(private readonly options: DrillOptions) {
    this.workers = options.workers ?? 2;
    this.names = options.names ?? 6;
    this.maxSize = options.maxSize ?? 300_000;
  }

  async start(): Promise<void> {
    for (let w = 0; w < this.workers; w++) await mkdir(join(this.options.root, `w${w}`), { recursive: true });
    this.running = Array.from({ length: this.workers }, (_, w) => this.work(w));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  /** Acknowledged operations so far. */
  get acknowledged(): number {
    return this.history.filter((o) => o.outcome === 'ok').length;
  }

  /** The first acknowledgement of an operation invoked at or after `t` (ms, performance.now()). */
  firstAckAfter(t: number): number | undefined {
    const acks = this.history.filter((o) => o.outcome === 'ok' && o.invokedAt >= t).map((o) => o.doneAt!);
    return acks.length ? Math.min(...acks) : undefined;
  }

  private async work(w: number): Promise<void> {
    const dir = join(this.options.root, `w${w}`);
    const state = new Map<string, FileState>();
    const uncertain = new Set<string>();
    const pool = Array.from({ length: this.names }, (_, i) => `n${i}`);
    let seq = 0;
    while (!this.stopping) {
      const usable = pool.filter((n) => !uncertain.has(n));
      const present = usable.filter((n) => state.get(n) !== undefined);
      if (usable.length === 0) return;
      const pick = <T>(a: T[]): T => a[Math.floor(Math.random() * a.length)]!;
      const roll = Math.random();
      let op: DrillOp;
      let data: Buffer | undefined;
      if (present.length === 0 || roll < 0.45) {
        const size = pick([0, 1, 4096, 65_537, Math.floor(Math.random() * this.maxSize)]);
        data = randomBytes(size);
        op = this.op(w, seq++, 'write', pick(usable), { sha: sha256(data), size });
      } else if (roll < 0.75) {
        const from = pick(present);
        op = this.op(w, seq++, 'rename', from, { to: pick(usable.filter((n) => n !== from)) });
      } else {
        op = this.op(w, seq++, 'unlink', pick(present));
      }
      try {
        if (op.kind === 'write') await writeFile(join(dir, op.name), data!);
        else if (op.kind === 'rename') await rename(join(dir, op.name), join(dir, op.to!));
        else await unlink(join(dir, op.name));
        op.outcome = 'ok';
        if (op.kind === 'write') state.set(op.name, { sha: op.sha!, size: op.size! });
        else if (op.kind === 'rename') {
          state.set(op.to!, state.get(op.name));
          state.set(op.name, undefined);
        } else state.set(op.name, undefined);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        op.outcome = code !== undefined && ERRNO.test(code) ? 'failed' : 'unknown';
        op.error = code ?? String(err);
        uncertain.add(op.name);
        if (op.to) uncertain.add(op.to);
      }
      op.doneAt = performance.now();
    }
  }

  private op(worker: number, seq: number, kind: DrillOpKind, name: string, more: Partial<DrillOp> = {}): DrillOp {
    const op: DrillOp = { worker, seq, kind, name, invokedAt: performance.now(), outcome: 'invoked', ...more };
    this.history.push(op);
    return op;
  }
}

export interface DrillReport {
  acknowledged: number;
  /** Operations answered with an error or not at all: the workload must see none. */
  errors: string[];
  /**
   * A name holding a state it had before its last acknowledged operation: that operation
   * lost, or (the same by state alone) undone by an earlier one applied again after it.
   */
  lost: string[];
  /** A name whose state no sequence of the acknowledged operations explains (applied twice, or misapplied). */
  misapplied: string[];
  /** Content that is no file ever written (a mix, a torn write). */
  corrupt: string[];
  /** An operation of unknown outcome neither wholly applied nor wholly not. */
  partial: string[];
}

/**
 * Compares what the mount shows under `root` with the history: every acknowledged
 * operation present with exactly its content, nothing applied twice, unknown outcomes
 * all-or-nothing, every file byte-identical to its record.
 */
export async function checkDrill(root: string, history: readonly DrillOp[]): Promise<DrillReport> {
  const report: DrillReport = { acknowledged: 0, errors: [], lost: [], misapplied: [], corrupt: [], partial: [] };
  const written = new Set(history.filter((o) => o.kind === 'write').map((o) => o.sha!));
  const workers = [...new Set(history.map((o) => o.worker))];
  for (const w of workers) {
    const dir = join(root, `w${w}`);
    const actual = new Map<string, FileState>();
    for (const name of await readdir(dir)) {
      const data = await readFile(join(dir, name));
      actual.set(name, { sha: sha256(data), size: data.length });
    }
    const expected = new Map<string, FileState>();
    /** Every state a name had after an acknowledged operation. */
    const past = new Map<string, FileState[]>();
    const note = (name: string, s: FileState) => {
      expected.set(name, s);
      past.set(name, [...(past.get(name) ?? [undefined]), s]);
    };
    const pending: { op: DrillOp; before: Map<string, FileState> }[] = [];
    for (const op of history.filter((o) => o.worker === w).sort((a, b) => a.seq - b.seq)) {
      if (op.outcome !== 'ok') {
        report.errors.push(`w${w} #${op.seq} ${describe(op)}: ${op.outcome} ${op.error ?? '(still in flight)'}`);
        pending.push({ op, before: new Map([[op.name, expected.get(op.name)], ...(op.to ? ([[op.to, expected.get(op.to)]] as const) : [])]) });
        continue;
      }
      report.acknowledged++;
      if (op.kind === 'write') note(op.name, { sha: op.sha!, size: op.size! });
      else if (op.kind === 'rename') {
        note(op.to!, expected.get(op.name));
        note(op.name, undefined);
      } else note(op.name, undefined);
    }
    const undetermined = new Set(pending.flatMap(({ op }) => (op.to ? [op.name, op.to] : [op.name])));
    for (const { op, before } of pending) {
      const after = new Map(before);
      if (op.kind === 'write') after.set(op.name, { sha: op.sha!, size: op.size! });
      else if (op.kind === 'rename') {
        after.set(op.to!, before.get(op.name));
        after.set(op.name, undefined);
      } else after.set(op.name, undefined);
      const now = [...before.keys()].map((n) => actual.get(n));
      const matches = (m: Map<string, FileState>) => [...m.values()].every((s, i) => same(s, now[i]));
      if (!matches(before) && !matches(after)) report.partial.push(`w${w} #${op.seq} ${describe(op)}: neither before nor after`);
    }
    for (const name of new Set([...expected.keys(), ...actual.keys()])) {
      if (undetermined.has(name)) continue;
      const want = expected.get(name);
      const got = actual.get(name);
      if (same(want, got)) continue;
      const where = `w${w}/${name}: ${show(got)}, expected ${show(want)}`;
      if (got && !written.has(got.sha)) report.corrupt.push(where);
      else if ((past.get(name) ?? [undefined]).some((s) => same(s, got))) report.lost.push(where);
      else report.misapplied.push(where);
    }
  }
  return report;
}

function describe(op: DrillOp): string {
  return op.kind === 'rename' ? `rename ${op.name} → ${op.to}` : op.kind === 'write' ? `write ${op.name} (${op.size} B)` : `unlink ${op.name}`;
}

function same(a: FileState, b: FileState): boolean {
  return a === undefined || b === undefined ? a === b : a.sha === b.sha && a.size === b.size;
}

function show(s: FileState): string {
  return s === undefined ? 'absent' : `${s.size} B ${s.sha.slice(0, 12)}`;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

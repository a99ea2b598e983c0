import { DumpError, frameDump, unframeDump } from '@tsmfs/metastore';
import { ClientState } from './client-state.js';
import { QuotaTable } from '../quota/quota-table.js';
import { AclTable } from '../acl/acl-table.js';
import { recountQuotas } from '../quota/quota-usage.js';
import { SClassTable } from '../sclass/sclass-table.js';
import { Metadata, TYPE_CODE, TYPE_NAME } from './metadata.js';

/**
 * The metadata dump (metadata.tsmfs): a versioned binary image of the whole state, in the
 * envelope of @tsmfs/metastore (magic, format, version, length, CRC32). The payload is a
 * sequence of sections (counters, inodes, directories, extra parents, xattrs, chunks,
 * trash, sustained) in a fixed order. Directory entries are written in their live
 * order, so readdir order survives a restart. Chunk locations are not written: the
 * chunkservers report them again.
 *
 * A file's chunk list is written as runs of consecutive chunks (format 2), so a sparse
 * file costs what its chunks cost; format 1 wrote every slot up to the last chunk and
 * is still read.
 *
 * Format 3 adds a last section: the client state a takeover keeps (sessions and the
 * request-id table, client-state.ts), as one JSON text (small: a few results per
 * session). Formats 1 and 2 are read with none.
 *
 * Format 4 adds the directory quotas (quota/quota-table.ts: limits and soft timers, as
 * JSON; their usage is counted again on load). Older formats are read with none.
 *
 * Format 5 adds, after them, the extra attributes (eattr.ts): the nodes that have any, as
 * (u32 inode, u8 flags) pairs. Older formats are read with none.
 *
 * Format 6 adds the storage classes (sclass/sclass-table.ts) other than the predefined
 * 1–9 as they were made, as JSON. Older formats are read with only those.
 *
 * Format 7 adds, last, the POSIX ACLs (acl/acl-table.ts) as JSON: few nodes have any.
 * Older formats are read with none.
 */
export const DUMP_FORMAT = 7;
const READABLE_FORMATS = [1, 2, 3, 4, 5, 6, 7];

export function encodeDump(md: Metadata): Buffer {
  const w = new Writer();
  writeCounters(w, md);
  writeInodes(w, md);
  writeDirectories(w, md);
  writeSideMaps(w, md);
  writeChunks(w, md);
  writeKept(w, md.trash);
  writeKept(w, md.sustained);
  w.str(JSON.stringify(md.clients));
  w.str(JSON.stringify(md.quotas));
  writeEattrs(w, md);
  w.str(JSON.stringify(md.sclasses));
  w.str(JSON.stringify(md.acls));
  return frameDump(DUMP_FORMAT, md.version, w.finish());
}

export function decodeDump(buf: Buffer): Metadata {
  const frame = unframeDump(buf, READABLE_FORMATS);
  const r = new Reader(frame.payload);
  const md = new Metadata();
  md.version = frame.version;
  try {
    readCounters(r, md);
    readInodes(r, md, frame.format === 1 ? readSlots : readRuns);
    readDirectories(r, md);
    readSideMaps(r, md);
    readChunks(r, md);
    readKept(r, md.trash);
    readKept(r, md.sustained);
    if (frame.format >= 3) md.clients = ClientState.fromJSON(JSON.parse(r.str()));
    if (frame.format >= 4) md.quotas = QuotaTable.fromJSON(JSON.parse(r.str()));
    if (frame.format >= 5) readEattrs(r, md);
    if (frame.format >= 6) md.sclasses = SClassTable.fromJSON(JSON.parse(r.str()));
    if (frame.format >= 7) readAcls(r, md);
    recountQuotas(md);
  } catch (err) {
    if (err instanceof DumpError) throw err;
    throw new DumpError('corrupt', String(err));
  }
  if (!r.atEnd()) throw new DumpError('corrupt', 'trailing bytes in payload');
  return md;
}

// ---- sections ---------------------------------------------------------------------

function writeCounters(w: Writer, md: Metadata): void {
  w.u32(md.nextInode);
  w.u32(md.inodeCount);
  const free = md.pendingFreeIds();
  w.u32(free.length);
  for (const [id, at] of free) {
    w.u32(id);
    w.f64(at);
  }
}

function readCounters(r: Reader, md: Metadata): void {
  md.nextInode = r.u32();
  md.ensureCapacity(md.nextInode);
  md.inodeCount = r.u32();
  const n = r.u32();
  for (let i = 0; i < n; i++) {
    md.freeIds.push(r.u32());
    md.freeAt.push(r.f64());
  }
}

function writeInodes(w: Writer, md: Metadata): void {
  const ids = [...md.inodes()];
  w.u32(ids.length);
  for (const i of ids) {
    w.u32(i);
    w.u8(md.type[i]!);
    w.u16(md.mode[i]!);
    w.u32(md.uid[i]!);
    w.u32(md.gid[i]!);
    w.u32(md.nlink[i]!);
    w.u8(md.goal[i]!);
    w.u32(md.trashtime[i]!);
    w.f64(md.atimeS[i]!);
    w.u32(md.atimeNs[i]!);
    w.f64(md.mtimeS[i]!);
    w.u32(md.mtimeNs[i]!);
    w.f64(md.ctimeS[i]!);
    w.u32(md.ctimeNs[i]!);
    w.f64(md.size[i]!);
    w.u32(md.rdev[i]!);
    w.u32(md.parent[i]!);
    if (md.type[i] === TYPE_CODE.symlink) w.str(md.symlinkTarget.get(i)!);
    if (md.type[i] === TYPE_CODE.file) writeChunkList(w, md, i);
  }
}

/**
 * The chunks as runs of consecutive indexes: u32 count of runs, then per run u32 first
 * index, u32 length and the ids (f64). Nearly every file is one run from index 0; it is
 * written as u32 (ONE_RUN_FROM_0 + length) and the ids, as compact as format 1's list.
 */
function writeChunkList(w: Writer, md: Metadata, inode: number): void {
  // Most files have no chunk or only index 0: written without building the list.
  if (md.chunkSlots(inode) <= 1) {
    const first = md.chunkAt(inode, 0);
    if (first === 0) {
      w.u32(0);
    } else {
      w.u32(ONE_RUN_FROM_0 + 1);
      w.f64(first);
    }
    return;
  }
  const chunks = md.chunkEntries(inode);
  const starts: number[] = [];
  chunks.forEach(([index], k) => {
    if (k === 0 || chunks[k - 1]![0] !== index - 1) starts.push(k);
  });
  if (starts.length === 1 && chunks[0]![0] === 0) {
    w.u32(ONE_RUN_FROM_0 + chunks.length);
    for (const [, id] of chunks) w.f64(id);
    return;
  }
  w.u32(starts.length);
  starts.forEach((start, s) => {
    const end = starts[s + 1] ?? chunks.length;
    w.u32(chunks[start]![0]);
    w.u32(end - start);
    for (let k = start; k < end; k++) w.f64(chunks[k]![1]);
  });
}

/** A file has at most 2^26 chunks, so the top bit of the run count is free to mark the common case. */
const ONE_RUN_FROM_0 = 0x8000_0000;

function readRuns(r: Reader, md: Metadata, inode: number): void {
  const head = r.u32();
  if (head >= ONE_RUN_FROM_0) {
    const length = head - ONE_RUN_FROM_0;
    for (let index = 0; index < length; index++) md.setChunkAt(inode, index, r.f64());
    return;
  }
  for (let k = 0; k < head; k++) {
    const first = r.u32();
    const length = r.u32();
    for (let index = first; index < first + length; index++) md.setChunkAt(inode, index, r.f64());
  }
}

/** Format 1: u32 slot count, then an id (0 = hole) for every slot up to the last chunk. */
function readSlots(r: Reader, md: Metadata, inode: number): void {
  const slots = r.u32();
  for (let index = 0; index < slots; index++) md.setChunkAt(inode, index, r.f64());
}

type ChunkListReader = (r: Reader, md: Metadata, inode: number) => void;

function readInodes(r: Reader, md: Metadata, readChunkList: ChunkListReader): void {
  const n = r.u32();
  for (let k = 0; k < n; k++) {
    const i = r.u32();
    if (i === 0 || i >= md.nextInode) throw new DumpError('corrupt', `inode ${i} out of range`);
    const type = r.u8();
    if (TYPE_NAME[type] === undefined) throw new DumpError('corrupt', `inode ${i} has type ${type}`);
    md.type[i] = type;
    md.mode[i] = r.u16();
    md.uid[i] = r.u32();
    md.gid[i] = r.u32();
    md.nlink[i] = r.u32();
    md.goal[i] = r.u8();
    md.trashtime[i] = r.u32();
    md.atimeS[i] = r.f64();
    md.atimeNs[i] = r.u32();
    md.mtimeS[i] = r.f64();
    md.mtimeNs[i] = r.u32();
    md.ctimeS[i] = r.f64();
    md.ctimeNs[i] = r.u32();
    md.size[i] = r.f64();
    md.rdev[i] = r.u32();
    md.parent[i] = r.u32();
    if (type === TYPE_CODE.symlink) md.symlinkTarget.set(i, r.str());
    if (type === TYPE_CODE.dir) md.children.set(i, new Map());
    if (type === TYPE_CODE.file) readChunkList(r, md, i);
  }
}

function writeDirectories(w: Writer, md: Metadata): void {
  w.u32(md.children.size);
  for (const dir of [...md.children.keys()].sort((a, b) => a - b)) {
    const entries = md.children.get(dir)!;
    w.u32(dir);
    w.u32(entries.size);
    for (const [name, child] of entries) {
      w.str(name);
      w.u32(child);
    }
  }
}

function readDirectories(r: Reader, md: Metadata): void {
  const n = r.u32();
  for (let k = 0; k < n; k++) {
    const dir = r.u32();
    const entries = md.children.get(dir);
    if (!entries) throw new DumpError('corrupt', `entries for non-directory ${dir}`);
    const count = r.u32();
    for (let e = 0; e < count; e++) {
      const name = r.str();
      const child = r.u32();
      if (!md.exists(child)) throw new DumpError('corrupt', `${dir}/${name} names missing inode ${child}`);
      entries.set(name, child);
      if (md.type[child] === TYPE_CODE.dir) md.dirName.set(child, name);
    }
  }
}

function writeSideMaps(w: Writer, md: Metadata): void {
  w.u32(md.extraParents.size);
  for (const [inode, parents] of md.extraParents) {
    w.u32(inode);
    w.u32(parents.length);
    for (const p of parents) w.u32(p);
  }
  w.u32(md.xattrs.size);
  for (const [inode, attrs] of md.xattrs) {
    w.u32(inode);
    w.u32(attrs.size);
    for (const [name, value] of attrs) {
      w.str(name);
      w.bytes(value);
    }
  }
}

function readSideMaps(r: Reader, md: Metadata): void {
  const parents = r.u32();
  for (let k = 0; k < parents; k++) {
    const inode = r.u32();
    const list: number[] = [];
    const n = r.u32();
    for (let p = 0; p < n; p++) list.push(r.u32());
    md.extraParents.set(inode, list);
  }
  const xattrs = r.u32();
  for (let k = 0; k < xattrs; k++) {
    const inode = r.u32();
    const attrs = new Map<string, Uint8Array>();
    const n = r.u32();
    for (let a = 0; a < n; a++) attrs.set(r.str(), r.bytes());
    md.xattrs.set(inode, attrs);
  }
}

function writeChunks(w: Writer, md: Metadata): void {
  const t = md.chunks;
  w.f64(t.nextChunkId);
  const ids = [...t.ids()];
  w.u32(ids.length);
  for (const id of ids) {
    w.f64(id);
    w.u32(t.version[id]!);
    w.u32(t.refcount[id]!);
  }
  w.u32(t.cowSource.size);
  for (const [id, src] of t.cowSource) {
    w.f64(id);
    w.f64(src);
  }
  w.u32(t.toDelete.length);
  for (const id of t.toDelete) w.f64(id);
}

function readChunks(r: Reader, md: Metadata): void {
  const t = md.chunks;
  const next = r.f64();
  const n = r.u32();
  for (let k = 0; k < n; k++) {
    const id = r.f64();
    if (!Number.isSafeInteger(id) || id <= 0 || id >= next) throw new DumpError('corrupt', `chunk id ${id}`);
    t.create(id, r.u32());
    t.refcount[id] = r.u32();
  }
  t.nextChunkId = next;
  const cow = r.u32();
  for (let k = 0; k < cow; k++) t.cowSource.set(r.f64(), r.f64());
  const del = r.u32();
  for (let k = 0; k < del; k++) t.toDelete.push(r.f64());
}

function writeKept(w: Writer, kept: Metadata['trash']): void {
  w.u32(kept.size);
  for (const [inode, k] of kept) {
    w.u32(inode);
    w.str(k.path);
    w.f64(k.deletedAt);
  }
}

function readKept(r: Reader, kept: Metadata['trash']): void {
  const n = r.u32();
  for (let k = 0; k < n; k++) {
    const inode = r.u32();
    kept.set(inode, { path: r.str(), deletedAt: r.f64() });
  }
}

function writeEattrs(w: Writer, md: Metadata): void {
  const flagged = [...md.inodes()].filter((i) => md.eattr[i] !== 0);
  w.u32(flagged.length);
  for (const i of flagged) {
    w.u32(i);
    w.u8(md.eattr[i]!);
  }
}

function readEattrs(r: Reader, md: Metadata): void {
  const n = r.u32();
  for (let k = 0; k < n; k++) {
    const i = r.u32();
    if (!md.exists(i)) throw new DumpError('corrupt', `extra attributes of missing inode ${i}`);
    md.eattr[i] = r.u8();
  }
}

function readAcls(r: Reader, md: Metadata): void {
  md.acls = AclTable.fromJSON(JSON.parse(r.str()));
  for (const inode of md.acls.byInode.keys()) if (!md.exists(inode)) throw new DumpError('corrupt', `ACLs of missing inode ${inode}`);
}

// ---- byte-level writer and reader ------------------------------------------------------

class Writer {
  private buf = Buffer.alloc(1 << 16);
  private pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = Buffer.alloc(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.pos = this.buf.writeUInt8(v, this.pos);
  }
  u16(v: number): void {
    this.room(2);
    this.pos = this.buf.writeUInt16LE(v, this.pos);
  }
  u32(v: number): void {
    this.room(4);
    this.pos = this.buf.writeUInt32LE(v, this.pos);
  }
  f64(v: number): void {
    this.room(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }
  bytes(v: Uint8Array): void {
    this.u32(v.length);
    this.room(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }
  str(v: string): void {
    const len = Buffer.byteLength(v);
    this.u32(len);
    this.room(len);
    this.pos += this.buf.write(v, this.pos, 'utf8');
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): number {
    if (this.pos + n > this.buf.length) throw new DumpError('truncated', 'payload ends inside a record');
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.buf.readUInt8(this.need(1));
  }
  u16(): number {
    return this.buf.readUInt16LE(this.need(2));
  }
  u32(): number {
    return this.buf.readUInt32LE(this.need(4));
  }
  f64(): number {
    return this.buf.readDoubleLE(this.need(8));
  }
  bytes(): Uint8Array {
    const len = this.u32();
    const at = this.need(len);
    return Uint8Array.from(this.buf.subarray(at, at + len));
  }
  str(): string {
    const len = this.u32();
    const at = this.need(len);
    return this.buf.toString('utf8', at, at + len);
  }
  atEnd(): boolean {
    return this.pos === this.buf.length;
  }
}

import { SetAttr, type ForgetItem, type SetAttrChanges } from './types.js';

/** The composed arguments of codegen/ops.mjs, used by the decoders in ops.gen.ts. */

function time(sec: number, nsec: number): { sec: number; nsec: number } {
  return { sec, nsec };
}

/** setattr's raw fields, kept only where FUSE_SET_ATTR_* says the caller set them. */
export function setAttrChanges(
  toSet: number,
  mode: number,
  uid: number,
  gid: number,
  size: number,
  atimeSec: number,
  atimeNsec: number,
  mtimeSec: number,
  mtimeNsec: number,
): SetAttrChanges {
  const changes: SetAttrChanges = { toSet };
  if (toSet & SetAttr.MODE) changes.mode = mode;
  if (toSet & SetAttr.UID) changes.uid = uid;
  if (toSet & SetAttr.GID) changes.gid = gid;
  if (toSet & SetAttr.SIZE) changes.size = size;
  if (toSet & SetAttr.ATIME_NOW) changes.atime = 'now';
  else if (toSet & SetAttr.ATIME) changes.atime = time(atimeSec, atimeNsec);
  if (toSet & SetAttr.MTIME_NOW) changes.mtime = 'now';
  else if (toSet & SetAttr.MTIME) changes.mtime = time(mtimeSec, mtimeNsec);
  return changes;
}

/** forget's (ino, nlookup) pairs of doubles (src/native/calls.c). */
export function forgetItems(pairs: Buffer): ForgetItem[] {
  const flat = new Float64Array(pairs.buffer, pairs.byteOffset, pairs.length / 8);
  const items: ForgetItem[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) items.push({ ino: flat[i], nlookup: flat[i + 1] });
  return items;
}

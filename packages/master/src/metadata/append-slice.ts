/**
 * The chunks of a source that mfsappendchunks -s FROM:TO appends, as MooseFS 3.0 counts
 * them: the source's chunks are its length's (ceil(length / 64 MiB), holes included), and
 * FROM:TO is a Python slice of them (FROM in, TO out; negative counts back from the end,
 * absent is the start or the end; out of range is clamped). The slice is empty when
 * `to <= from`.
 */
export function chunkSlice(count: number, from: number | undefined, to: number | undefined): { from: number; to: number } {
  const at = (i: number | undefined, absent: number) => (i === undefined ? absent : i < 0 ? Math.max(0, count + i) : Math.min(i, count));
  return { from: at(from, 0), to: at(to, count) };
}

/**
 * How long the appended part is, past the destination's padded end: up to the source's
 * end when the slice reaches it, else whole chunks (MooseFS 3.0's lengths, checked
 * against mfsappendchunks).
 */
export function slicedLength(srcLength: number, chunkSize: number, slice: { from: number; to: number }): number {
  return slice.to * chunkSize >= srcLength ? srcLength - slice.from * chunkSize : (slice.to - slice.from) * chunkSize;
}

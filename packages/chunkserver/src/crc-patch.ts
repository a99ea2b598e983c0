/**
 * CRC-32 (zlib's, reflected polynomial 0xEDB88320) of a block after part of it changed,
 * from the block's old CRC and the CRCs of the part's old and new bytes alone, without
 * a pass over the rest of the block.
 *
 * Why it holds: the CRC of an n-byte message is a linear function of its bits plus a
 * constant that depends on n alone, crc(m) = L(m) ^ K(n). Two messages of one length
 * therefore differ in CRC by L of their XOR: crc(new) = crc(old) ^ L(old ^ new). A write of
 * `piece` at `offset` in a block makes old ^ new zero outside the piece, and L of
 * zeros, then d, then t zero bytes is L(d) multiplied by x^(8t) modulo the polynomial (the
 * leading zeros leave the register at zero, the trailing ones shift it). And L(d) for the
 * XOR of the piece's old and new bytes is crc(oldPiece) ^ crc(newPiece), the constants
 * cancelling. A 4 KiB random write thus reads 4 KiB of old bytes and runs the CRC over
 * 4 KiB, instead of reading and running it over the whole 64 KiB block twice
 * (docs/benchmarks.md, "Random writes without reading the block").
 */

const POLY = 0xedb88320;

/** a * b modulo the polynomial, both in the reflected bit order CRC-32 keeps its register in (x^0 is bit 31). */
function multiply(a: number, b: number): number {
  let product = 0;
  for (let m = 0x80000000; m !== 0; m >>>= 1) {
    if (a & m) product ^= b;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^k) modulo the polynomial for k = 0..31: squaring x again and again. */
const X_POW_2K = (() => {
  const table = new Uint32Array(32);
  let p = 0x40000000; // x^1
  for (let k = 0; k < 32; k++) {
    table[k] = p;
    p = multiply(p, p);
  }
  return table;
})();

/** x^(8n): what n zero bytes multiply the register by. n < 2^29. */
function zeroBytesOperator(n: number): number {
  let p = 0x80000000; // x^0
  for (let k = 3; n !== 0; n >>>= 1, k++) if (n & 1) p = multiply(X_POW_2K[k]!, p);
  return p;
}

/** The register `crc` after `n` zero bytes, without the CRC's final inversion: the linear part's shift. */
export function shiftByZeros(crc: number, n: number): number {
  return n === 0 ? crc >>> 0 : multiply(zeroBytesOperator(n), crc);
}

/** CRC-32 of `n` zero bytes (zlib's crc32 of Buffer.alloc(n)). */
export function crcOfZeros(n: number): number {
  return ~shiftByZeros(0xffffffff, n) >>> 0;
}

/**
 * The linear part of `crc`, the CRC of a message `length` bytes long, followed by
 * `zerosAfter` zero bytes: L(message ‖ zeros) = L(message) · x^(8·zerosAfter).
 */
export function linearPart(crc: number, length: number, zerosAfter = 0): number {
  return shiftByZeros((crc ^ crcOfZeros(length)) >>> 0, zerosAfter);
}

/**
 * The CRC of a `blockLength`-byte block whose CRC was `blockCrc` once the bytes of one
 * range in it, ending `bytesAfter` bytes before the block's end, change from bytes whose
 * linear part is `oldLinear` to bytes whose linear part is `newLinear` (each from
 * `linearPart` over the range's bytes, old and new).
 */
export function patchedCrc(blockCrc: number, oldLinear: number, newLinear: number, bytesAfter: number): number {
  return (blockCrc ^ shiftByZeros((oldLinear ^ newLinear) >>> 0, bytesAfter)) >>> 0;
}

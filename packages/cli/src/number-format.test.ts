import { describe, expect, it } from 'vitest';
import { type NumberFormat, formatNumber, noNumber, numberFormatFrom } from './number-format.js';

/**
 * Every expected string here is what MooseFS 3.0.117 printed: `mfssetquota -L N DIR` then
 * `mfsgetquota -h|-H|-k|-m|-g DIR`, its hard length cell (a 64-bit size in bytes), and its
 * inodes cells for counts (`-I N`); the widths from the same cells and from `mfsdirinfo`,
 * `mfsgetgoal -r` (32-bit counts) with each flag.
 */
const BYTES = { wide: true, bytes: true };
const COUNT64 = { wide: true };

/** [N, mfsgetquota -h, -H, -k, -m, -g] of a length limit N (mfssetquota reads N as a double: above 2^53 only such values). */
const SIZES: [number | bigint, string, string, string, string, string][] = [
  [0, '0B', '0B', '0', '0', '0'],
  [1, '1B', '1B', '0', '0', '0'],
  [999, '999B', '999B', '0', '0', '0'],
  [1000, '1.0KiB', '1.0kB', '0', '0', '0'],
  [1023, '1.0KiB', '1.0kB', '0', '0', '0'],
  [1024, '1.0KiB', '1.0kB', '1', '0', '0'],
  [1049, '1.0KiB', '1.0kB', '1', '0', '0'],
  [1050, '1.0KiB', '1.1kB', '1', '0', '0'],
  [1075, '1.0KiB', '1.1kB', '1', '0', '0'],
  [1076, '1.1KiB', '1.1kB', '1', '0', '0'],
  [1150, '1.1KiB', '1.2kB', '1', '0', '0'],
  [1250, '1.2KiB', '1.3kB', '1', '0', '0'],
  [1280, '1.3KiB', '1.3kB', '1', '0', '0'],
  [1950, '1.9KiB', '2.0kB', '1', '0', '0'],
  [2500, '2.4KiB', '2.5kB', '2', '0', '0'],
  [9949, '9.7KiB', '9.9kB', '9', '0', '0'],
  [9950, '9.7KiB', '10kB', '9', '0', '0'],
  [10188, '9.9KiB', '10kB', '9', '0', '0'],
  [10189, '10KiB', '10kB', '9', '0', '0'],
  [10240, '10KiB', '10kB', '10', '0', '0'],
  [97500, '95KiB', '98kB', '95', '0', '0'],
  [98500, '96KiB', '99kB', '96', '0', '0'],
  [99499, '97KiB', '99kB', '97', '0', '0'],
  [99500, '97KiB', '100kB', '97', '0', '0'],
  [102400, '100KiB', '102kB', '100', '0', '0'],
  [999499, '976KiB', '999kB', '976', '0', '0'],
  [999500, '976KiB', '1.0MB', '976', '0', '0'],
  [1023487, '999KiB', '1.0MB', '999', '0', '0'],
  [1023488, '1.0MiB', '1.0MB', '999', '0', '0'],
  [1048575, '1.0MiB', '1.0MB', '1023', '0', '0'],
  [1048576, '1.0MiB', '1.0MB', '1024', '1', '0'],
  [10240000, '9.8MiB', '10MB', '10000', '9', '0'],
  [123456789, '118MiB', '123MB', '120563', '117', '0'],
  [1073741824, '1.0GiB', '1.1GB', '1048576', '1024', '1'],
  [1000000000000, '931GiB', '1.0TB', '976562500', '953674', '931'],
  [1099511627776, '1.0TiB', '1.1TB', '1073741824', '1048576', '1024'],
  [1125899906842624n, '1.0PiB', '1.1PB', '1099511627776', '1073741824', '1048576'],
  [1000000000000000000n, '888PiB', '1.0EB', '976562500000000', '953674316406', '931322574'],
  [1152921504606846976n, '1.0EiB', '1.2EB', '1125899906842624', '1099511627776', '1073741824'],
  [5000000000000000000n, '4.3EiB', '5.0EB', '4882812500000000', '4768371582031', '4656612873'],
  [9223372036854775808n, '8.0EiB', '9.2EB', '9007199254740992', '8796093022208', '8589934592'],
  [17293822569102704640n, '15EiB', '17EB', '16888498602639360', '16492674416640', '16106127360'],
  [18446744073709549568n, '16EiB', '18EB', '18014398509481982', '17592186044415', '17179869183'],
];

describe('formatNumber, as MooseFS 3.0.117 prints numbers', () => {
  it('-h and -H: prefixes, a B after sizes, rounded half up, in 6 and 5 columns', () => {
    for (const [n, h, H] of SIZES) {
      expect([n, formatNumber(n, 'binary', BYTES)]).toEqual([n, h.padStart(6)]);
      expect([n, formatNumber(n, 'si', BYTES)]).toEqual([n, H.padStart(5)]);
    }
  });
  it('-h and -H on counts: no B (mfsgetquota inodes: 1023 -> 1.0Ki / 1.0k, 1950 -> 1.9Ki / 2.0k)', () => {
    expect(formatNumber(1, 'binary', COUNT64)).toBe('     1');
    expect(formatNumber(999, 'binary')).toBe('   999');
    expect(formatNumber(1023, 'binary', COUNT64)).toBe(' 1.0Ki');
    expect(formatNumber(1000, 'si', COUNT64)).toBe(' 1.0k');
    expect(formatNumber(1950, 'binary', COUNT64)).toBe(' 1.9Ki');
    expect(formatNumber(1950, 'si', COUNT64)).toBe(' 2.0k');
    // mfsgetgoal -r -h / -H: a 32-bit count in the same 6 / 5 columns.
    expect(formatNumber(1, 'binary')).toBe('     1');
    expect(formatNumber(1, 'si')).toBe('    1');
  });
  it('-k, -m, -g: rounded down, in 3, 6, 9 columns fewer than -n (counts too)', () => {
    for (const [n, , , k, m, g] of SIZES) {
      expect([n, formatNumber(n, 'kibi', BYTES)]).toEqual([n, k.padStart(17)]);
      expect([n, formatNumber(n, 'mebi', BYTES)]).toEqual([n, m.padStart(14)]);
      expect([n, formatNumber(n, 'gibi', BYTES)]).toEqual([n, g.padStart(11)]);
    }
    // mfsdirinfo -k: 2 inodes -> 0; mfsgetgoal -r -k / -m / -g: a 32-bit count of 1 -> 0 in 7 / 4 / 1 columns.
    expect(formatNumber(2, 'kibi', COUNT64)).toBe('0'.padStart(17));
    expect(formatNumber(1, 'kibi')).toBe('      0');
    expect(formatNumber(1, 'mebi')).toBe('   0');
    expect(formatNumber(1, 'gibi')).toBe('0');
  });
  it('-n: exact, in 10 or 20 columns', () => {
    expect(formatNumber(67108865, 'plain')).toBe('  67108865');
    // mfsgetquota -n of the largest limit mfssetquota takes.
    expect(formatNumber(18446744073709549568n, 'plain', BYTES)).toBe('18446744073709549568');
  });
  it('MFSHRFORMAT=3 / 4: the -h / -H form, then the exact number (mfsgetquota, mfsdirinfo, mfsgetgoal -r)', () => {
    expect(formatNumber(73728, 'binary+', BYTES)).toBe(` 72KiB (${'73728'.padStart(20)})`);
    expect(formatNumber(123456789, 'si+', BYTES)).toBe(`123MB (${'123456789'.padStart(20)})`);
    expect(formatNumber(1950, 'si+', COUNT64)).toBe(` 2.0k (${'1950'.padStart(20)})`);
    expect(formatNumber(1, 'binary+')).toBe('     1 (         1)');
  });
  it("a limit not set: '-' in the column (mfsgetquota after mfsdelquota)", () => {
    const widths: [NumberFormat, number][] = [['plain', 20], ['binary', 6], ['si', 5], ['kibi', 17], ['mebi', 14], ['gibi', 11], ['binary+', 29]];
    for (const [format, width] of widths) expect(noNumber(format, BYTES)).toBe('-'.padStart(width));
  });
  it('a negative number (none in MooseFS\'s tools) keeps its sign', () => {
    expect(formatNumber(-2048, 'binary', BYTES).trim()).toBe('-2.0KiB');
  });
});

describe('numberFormatFrom, as MooseFS\'s tools choose the format', () => {
  it('-n/-h/-H: the last one wins', () => {
    expect(numberFormatFrom(['h', 'H'])).toBe('si');
    expect(numberFormatFrom(['H', 'n'])).toBe('plain');
    expect(numberFormatFrom(['h'])).toBe('binary');
    expect(numberFormatFrom([])).toBe('plain');
  });
  it('-k/-m/-g: the last one, only for plain numbers (mfsdirinfo -h -k, -k -h: -h; -g -n, -n -g: -g; -m -k: -k)', () => {
    expect(numberFormatFrom(['h', 'k'])).toBe('binary');
    expect(numberFormatFrom(['k', 'h'])).toBe('binary');
    expect(numberFormatFrom(['g', 'n'])).toBe('gibi');
    expect(numberFormatFrom(['n', 'g'])).toBe('gibi');
    expect(numberFormatFrom(['m', 'k'])).toBe('kibi');
    expect(numberFormatFrom(['k', 'n', 'm'])).toBe('mebi');
    expect(numberFormatFrom(['g', 'H', 'n'])).toBe('gibi');
  });
  it('MFSHRFORMAT: the default form; -n/-h/-H replace it; -k/-m/-g do not (MFSHRFORMAT=3 mfsdirinfo -k: h+)', () => {
    expect(numberFormatFrom([], '1')).toBe('binary');
    expect(numberFormatFrom([], 'H')).toBe('si');
    expect(numberFormatFrom([], 'h+')).toBe('binary+');
    expect(numberFormatFrom([], '4')).toBe('si+');
    expect(numberFormatFrom(['k'], '3')).toBe('binary+');
    expect(numberFormatFrom(['k'], '2')).toBe('si');
    expect(numberFormatFrom(['n'], '3')).toBe('plain');
    expect(numberFormatFrom(['k'], '0')).toBe('kibi');
    expect(numberFormatFrom([], '5')).toBe('plain');
    expect(numberFormatFrom([], 'x')).toBe('plain');
  });
});

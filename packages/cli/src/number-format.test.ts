import { describe, expect, it } from 'vitest';
import { formatNumber, numberFormatFrom } from './number-format.js';

describe('formatNumber', () => {
  it('prints exact values in plain format', () => {
    expect(formatNumber(67108865, 'plain')).toBe('67108865');
  });
  it('uses binary prefixes with -h', () => {
    expect(formatNumber(1023, 'binary')).toBe('1023');
    expect(formatNumber(1024, 'binary')).toBe('1.00Ki');
    expect(formatNumber(64 * 1024 * 1024, 'binary')).toBe('64.0Mi');
    expect(formatNumber(1536 * 1024 ** 3, 'binary')).toBe('1.50Ti');
    expect(formatNumber(300 * 1024, 'binary')).toBe('300Ki');
  });
  it('uses SI prefixes with -H', () => {
    expect(formatNumber(999, 'si')).toBe('999');
    expect(formatNumber(1000, 'si')).toBe('1.00k');
    expect(formatNumber(67108864, 'si')).toBe('67.1M');
  });
  it('takes the last of -n/-h/-H', () => {
    expect(numberFormatFrom({}, ['-h', '-H'])).toBe('si');
    expect(numberFormatFrom({}, ['-H', '-n'])).toBe('plain');
    expect(numberFormatFrom({ h: true })).toBe('binary');
  });
});

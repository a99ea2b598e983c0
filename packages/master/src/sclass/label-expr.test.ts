import { describe, expect, it } from 'vitest';
import { formatLabelExpr, isPlain, matches, parseLabelExpr } from './label-expr.js';

const labels = (...l: string[]) => new Set(l);

describe('labels expressions (mfsscadmin(1))', () => {
  it('parses the man page examples with their meaning', () => {
    expect(parseLabelExpr('A,B')).toEqual([[['A']], [['B']]]);
    expect(parseLabelExpr('A,*')).toEqual([[['A']], [[]]]);
    expect(parseLabelExpr('AB,C+D')).toEqual([[['A', 'B']], [['C'], ['D']]]);
    expect(parseLabelExpr('A,B[X+Y],C[X+Y]')).toEqual([[['A']], [['B', 'X'], ['B', 'Y']], [['C', 'X'], ['C', 'Y']]]);
    // Equivalent spellings (the man page's).
    expect(parseLabelExpr('A,A')).toEqual(parseLabelExpr('2A'));
    expect(parseLabelExpr('A,BC,BC,BC')).toEqual(parseLabelExpr('A,3BC'));
    expect(parseLabelExpr('*,*')).toEqual(parseLabelExpr('2*'));
    expect(parseLabelExpr('2')).toEqual(parseLabelExpr('2*'));
    // Other operators for and / or, brackets of both kinds, case and spaces.
    expect(parseLabelExpr('a*b , c|d')).toEqual(parseLabelExpr('AB,C+D'));
    expect(parseLabelExpr('A&(B+C)')).toEqual(parseLabelExpr('A[B+C]'));
  });

  it('matches a server by its labels: a product needs all, a sum any, * every server', () => {
    const [ab, cd, any] = parseLabelExpr('AB,C+D,*');
    expect(matches(ab!, labels('A', 'B', 'Z'))).toBe(true);
    expect(matches(ab!, labels('A'))).toBe(false);
    expect(matches(cd!, labels('D'))).toBe(true);
    expect(matches(cd!, labels('A', 'B'))).toBe(false);
    expect(matches(any!, labels())).toBe(true);
    expect(isPlain(parseLabelExpr('3'))).toBe(true);
    expect(isPlain(parseLabelExpr('2*,A'))).toBe(false);
  });

  it('formats equal copies with a count, as mfsscadmin list shows them', () => {
    expect(formatLabelExpr(parseLabelExpr('A,A,B+C,*,*'))).toBe('2A,B+C,2*');
    expect(formatLabelExpr(parseLabelExpr('b&a'))).toBe('AB');
  });

  it('refuses what is not an expression, with EINVAL', () => {
    for (const bad of ['', 'A,', ',A', 'A+', '(A', 'A]', 'A-B', '0A', '10*', 'A,B,C,D,E,F,G,H,I,J', '[A+B+C+D+E+F+G+H][A+B+C+D+E+F+G+H][A+B]']) {
      expect(() => parseLabelExpr(bad), bad).toThrow(expect.objectContaining({ status: 22 }));
    }
  });
});

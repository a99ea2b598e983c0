/**
 * The compare benchmark's arithmetic (bench/lib/compare-table.js): medians of the rounds,
 * ratios that read "above 1: tsmfs ahead" for rates and durations alike, and a failed run
 * that leaves a gap instead of a wrong figure. No timing: values are given.
 */
import { describe, expect, it } from 'vitest';
// @ts-expect-error bench/ is plain JavaScript, run by node as it is: no declarations to check against.
import { FIGURES, buildRows, markdownTable, median, ratio, textTable } from '../bench/lib/compare-table.js';

const figure = (key: string) => FIGURES.find((f: { key: string }) => f.key === key)!;

describe('compare table', () => {
  it('takes the median of odd and even counts and skips failed runs', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, null, 1, undefined, 3])).toBe(3);
    expect(median([null])).toBeNull();
    expect(median([])).toBeNull();
  });

  it('puts tsmfs ahead above 1 for a rate and for a duration', () => {
    expect(ratio(figure('create'), 2000, 1000)).toBe(2); // twice the creates per second
    expect(ratio(figure('tree_extract'), 10, 20)).toBe(2); // half the seconds
    expect(ratio(figure('seq_write'), 50, 100)).toBe(0.5);
    expect(ratio(figure('ls_l'), 4, 1)).toBe(0.25);
    expect(ratio(figure('stat'), null, 100)).toBeNull();
    expect(ratio(figure('stat'), 100, 0)).toBeNull();
  });

  it('builds one row per figure from the rounds: medians, then the ratio of the medians', () => {
    const rows = buildRows({
      tsmfs: [{ create: 900, tree_rm: 3 }, { create: 1100, tree_rm: 5 }, { create: 1000, tree_rm: 4 }],
      moosefs: [{ create: 4000, tree_rm: 2 }, { create: 3000 }, { create: 5000, tree_rm: 2 }],
    });
    expect(rows.map((r: { key: string }) => r.key)).toEqual(FIGURES.map((f: { key: string }) => f.key));
    const create = rows.find((r: { key: string }) => r.key === 'create');
    expect(create).toMatchObject({ tsmfs: [900, 1100, 1000], moosefs: [4000, 3000, 5000], tsmfsMedian: 1000, moosefsMedian: 4000, ratio: 0.25 });
    const rm = rows.find((r: { key: string }) => r.key === 'tree_rm');
    expect(rm).toMatchObject({ moosefs: [2, null, 2], tsmfsMedian: 4, moosefsMedian: 2, ratio: 0.5 });
    const absent = rows.find((r: { key: string }) => r.key === 'git_status');
    expect(absent).toMatchObject({ tsmfsMedian: null, moosefsMedian: null, ratio: null });
    expect(textTable(rows)).toMatch(/create empty files, one dir +\/s +1,000 +4,000 +0\.25/);
    expect(markdownTable(rows)).toContain('| create empty files, one dir | /s | 1,000 | 4,000 | 0.25 |');
    expect(markdownTable(rows)).toContain('| `git status` of it, caches dropped | s | — | — | — |');
  });
});

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
    expect(create).toMatchObject({
      values: { tsmfs: [900, 1100, 1000], moosefs: [4000, 3000, 5000] },
      medians: { tsmfs: 1000, moosefs: 4000 },
      ratios: { tsmfs: 0.25 },
    });
    const rm = rows.find((r: { key: string }) => r.key === 'tree_rm');
    expect(rm).toMatchObject({ values: { moosefs: [2, null, 2] }, medians: { tsmfs: 4, moosefs: 2 }, ratios: { tsmfs: 0.5 } });
    const absent = rows.find((r: { key: string }) => r.key === 'git_status');
    expect(absent).toMatchObject({ medians: { tsmfs: null, moosefs: null }, ratios: { tsmfs: null } });
    expect(textTable(rows)).toMatch(/create empty files, one dir +\/s +1,000 +4,000 +0\.25/);
    expect(markdownTable(rows)).toContain('| figure | unit | tsmfs | MooseFS 3.0 | ratio |');
    expect(markdownTable(rows)).toContain('| create empty files, one dir | /s | 1,000 | 4,000 | 0.25 |');
    expect(markdownTable(rows)).toContain('| tree: `rm -rf` | s | 4.00 | 2.00 | 0.50 |');
    expect(markdownTable(rows)).not.toContain('git status'); // measured nowhere: a group left out
  });

  it('puts each durability mode in its own column, each with its ratio to MooseFS', () => {
    const rows = buildRows({
      'tsmfs-mode1': [{ create: 3000, ls_l: 1 }],
      'tsmfs-mode2': [{ create: 1000, ls_l: 1 }],
      moosefs: [{ create: 2000, ls_l: 2 }],
    });
    const create = rows.find((r: { key: string }) => r.key === 'create');
    expect(create.ratios).toEqual({ 'tsmfs-mode1': 1.5, 'tsmfs-mode2': 0.5 });
    expect(markdownTable(rows)).toContain('| figure | unit | tsmfs mode 1 | tsmfs mode 2 | MooseFS 3.0 | ratio mode 1 | ratio mode 2 |');
    expect(markdownTable(rows)).toContain('| create empty files, one dir | /s | 3,000 | 1,000 | 2,000 | 1.50 | 0.50 |');
    expect(textTable(rows).split('\n')[0]).toMatch(/tsmfs mode 1 +tsmfs mode 2 +MooseFS +ratio mode 1 +ratio mode 2$/);
  });
});

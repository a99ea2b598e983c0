import type { HealthClasses, HealthView } from '@tsmfs/master';

/**
 * tsmfs-cli -SIC as mfscli -SIC prints it (MooseFS 3.0.117): the chunks state matrix,
 * goal rows 0-9 and 10+ by valid copies 0-9 and 10+, and the chunk classes below.
 * `regular`: MooseFS's "regular chunks" matrix (-m 1), copies on disks marked for
 * removal left out; otherwise the "all chunks" one (-m 0, the default).
 */

const ORDER: [keyof HealthClasses, string][] = [
  ['missing', 'missing'],
  ['endangered', 'endangered'],
  ['undergoal', 'undergoal'],
  ['stable', 'stable'],
  ['overgoal', 'overgoal'],
  ['pendingDeletion', 'pending deletion'],
  ['toBeRemoved', 'to be removed'],
];

const pick = (h: HealthView, regular: boolean) => ({ m: regular ? h.regular : h.matrix, classes: regular ? h.classes.regular : h.classes.all });
const label = (i: number, last: number) => (i === last ? `${i}+` : String(i));

/** mfscli's plain form (its output when not on a terminal, or with -p): one tab-separated line per non-zero cell, then the classes. */
export function matrixPlain(h: HealthView, regular: boolean): string {
  const { m, classes } = pick(h, regular);
  const prefix = `${regular ? 'regular' : 'all'} chunks matrix:\t`;
  const out: string[] = [];
  m.forEach((row, goal) => row.forEach((n, copies) => n > 0 && out.push(`${prefix}goal/copies/chunks:\t${goal}\t${copies}\t${n}`)));
  for (const [key, name] of ORDER) out.push(`${prefix}chunkclass ${name}:\t${classes[key]}`);
  return out.join('\n');
}

/** Python's str.center, which mfscli's tables use (the odd space goes right unless the width is odd too). */
function center(s: string, width: number): string {
  const marg = width - s.length;
  if (marg <= 0) return s;
  const left = Math.floor(marg / 2) + (marg & width & 1);
  return ' '.repeat(left) + s + ' '.repeat(marg - left);
}

/** mfscli's terminal table with its plain ASCII frames (-f0), without colours. */
export function matrixTable(h: HealthView, regular: boolean): string {
  const { m, classes } = pick(h, regular);
  const last = h.maxColumn;
  const sums = m.slice(1).reduce((acc, row) => acc.map((v, i) => v + row[i]!), new Array<number>(last + 1).fill(0));
  const body = [
    ...m.map((row, goal) => [label(goal, last), ...row.map((n) => (n > 0 ? String(n) : '-')), String(row.reduce((a, b) => a + b, 0))]),
    ['all 1+', ...sums.map(String), String(sums.reduce((a, b) => a + b, 0))],
  ];
  const heads = [...Array.from({ length: last + 1 }, (_, i) => (i === last ? `   ${i}+   ` : `    ${i}    `)), '   all   '];
  // Column widths: the goal column and one per copies column and "all", as wide as their widest cell.
  const widths = [Math.max(4, ...body.map((r) => r[0]!.length)), ...heads.map((hd, i) => Math.max(hd.length, ...body.map((r) => r[i + 1]!.length)))];
  const span = (from: number, to: number) => widths.slice(from, to).reduce((a, b) => a + b, 0) + 3 * (to - from - 1);
  const full = span(0, widths.length);
  const rule = (cols: number[]) => `+${cols.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const summary = ORDER.map(([key, name]) => `${name}: ${classes[key]}`).join(' / ');
  return [
    rule([full]),
    `| ${center(`${regular ? 'Regular' : 'All'} chunks state matrix`, full)} |`,
    rule([widths[0]!, span(1, widths.length)]),
    `| ${' '.repeat(widths[0]!)} | ${center('valid copies', span(1, widths.length))} |`,
    `| ${center('goal', widths[0]!)} ${rule(widths.slice(1))}`,
    `| ${' '.repeat(widths[0]!)} | ${heads.map((hd, i) => center(hd, widths[i + 1]!)).join(' | ')} |`,
    rule(widths),
    ...body.map((r) => `| ${r.map((c, i) => c.padStart(widths[i]!)).join(' | ')} |`),
    rule(widths),
    `| ${center(summary, full)} |`,
    rule([full]),
  ].join('\n');
}

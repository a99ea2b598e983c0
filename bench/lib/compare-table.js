// The compare benchmark's figures and what is made of them: medians of the rounds, the
// ratio (above 1 when tsmfs is ahead, whichever way the unit points), the JSON record,
// the terminal table and the section appended to docs/benchmarks.md. No I/O here.

/** Every figure, in the order of the table; `better` says which way is ahead. */
export const FIGURES = [
  { key: 'seq_write_close', label: 'sequential write (fio 1 MiB, close)', unit: 'MiB/s', better: 'higher' },
  { key: 'seq_write', label: 'sequential write (fio 1 MiB, end fsync)', unit: 'MiB/s', better: 'higher' },
  { key: 'seq_read_cold', label: 'sequential read, caches dropped', unit: 'MiB/s', better: 'higher' },
  { key: 'seq_read_direct', label: 'sequential read, O_DIRECT', unit: 'MiB/s', better: 'higher' },
  { key: 'rand_read', label: '4 KiB random read (psync, direct)', unit: 'IOPS', better: 'higher' },
  { key: 'rand_write', label: '4 KiB random write (psync, direct)', unit: 'IOPS', better: 'higher' },
  { key: 'create', label: 'create empty files, one dir', unit: '/s', better: 'higher' },
  { key: 'stat', label: 'stat them, caches dropped', unit: '/s', better: 'higher' },
  { key: 'ls_l', label: '`ls -l` of them, caches dropped', unit: 's', better: 'lower' },
  { key: 'rename', label: 'rename them', unit: '/s', better: 'higher' },
  { key: 'unlink', label: 'unlink them', unit: '/s', better: 'higher' },
  { key: 'mkdir', label: 'mkdir, tree of dirs', unit: '/s', better: 'higher' },
  { key: 'rmdir', label: 'rmdir, same tree', unit: '/s', better: 'higher' },
  { key: 'small_write', label: '4 KiB files: write', unit: '/s', better: 'higher' },
  { key: 'small_read', label: '4 KiB files: read, caches dropped', unit: '/s', better: 'higher' },
  { key: 'small_reread', label: '4 KiB files: read again', unit: '/s', better: 'higher' },
  { key: 'small_unlink', label: '4 KiB files: unlink', unit: '/s', better: 'higher' },
  { key: 'tree_extract', label: 'tree: extract (tar -x)', unit: 's', better: 'lower' },
  { key: 'tree_ls_lR', label: 'tree: `ls -l -R`', unit: 's', better: 'lower' },
  { key: 'tree_find', label: 'tree: `find`', unit: 's', better: 'lower' },
  { key: 'tree_du', label: 'tree: `du -s`', unit: 's', better: 'lower' },
  { key: 'tree_copy_out', label: 'tree: copy out (cp -a)', unit: 's', better: 'lower' },
  { key: 'tree_rm', label: 'tree: `rm -rf`', unit: 's', better: 'lower' },
  { key: 'git_clone', label: 'git clone of this repo', unit: 's', better: 'lower' },
  { key: 'git_status', label: '`git status` of it, caches dropped', unit: 's', better: 'lower' },
  { key: 'parallel_create', label: 'create from 8 processes, one dir', unit: '/s', better: 'higher' },
  { key: 'fio_mix', label: 'fio mix: 4 jobs 4 KiB randrw 70/30 direct', unit: 'IOPS', better: 'higher' },
];

/** The median of the numbers given (null and undefined skipped: a failed run); null if none. */
export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** tsmfs against MooseFS, above 1 when tsmfs is ahead: a rate divides, a duration inverts. */
export function ratio(figure, tsmfs, moosefs) {
  if (tsmfs == null || moosefs == null || tsmfs <= 0 || moosefs <= 0) return null;
  return figure.better === 'higher' ? tsmfs / moosefs : moosefs / tsmfs;
}

/**
 * `runs` is `{ [target]: [{key: value}, …one per round] }` with a `moosefs` target and one
 * or more tsmfs targets (one per durability mode compared); the rows carry every round's
 * value, the medians, and for each tsmfs target the ratio of its median to MooseFS's.
 */
export function buildRows(runs) {
  const names = Object.keys(runs);
  return FIGURES.map((f) => {
    const values = Object.fromEntries(names.map((n) => [n, runs[n].map((r) => r[f.key] ?? null)]));
    const medians = Object.fromEntries(names.map((n) => [n, median(values[n])]));
    const ratios = Object.fromEntries(names.filter((n) => n !== 'moosefs').map((n) => [n, ratio(f, medians[n], medians.moosefs)]));
    return { ...f, values, medians, ratios };
  });
}

/** The tsmfs targets of some rows, in run order. */
const tsmfsTargets = (rows) => Object.keys(rows[0]?.ratios ?? {});
/** A target's column heading: `tsmfs` alone, `tsmfs mode 1` for one of several. */
const heading = (name) => name.replace(/^tsmfs-mode(\d)$/, 'tsmfs mode $1').replace(/^moosefs$/, 'MooseFS');

/** A figure as people read it: 3 significant digits, thousands separated. */
export function formatValue(v) {
  if (v == null) return '—';
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const formatRatio = (r) => (r == null ? '—' : r.toFixed(2));

/**
 * The columns of a table: figure, unit, each tsmfs target, MooseFS, then a ratio per
 * tsmfs target. A figure no target measured (a group left out with --only) is left out;
 * one that failed on some target shows — there.
 */
function cells(allRows) {
  const ts = tsmfsTargets(allRows);
  const rows = allRows.filter((r) => Object.values(r.medians).some((m) => m != null));
  const head = ['figure', 'unit', ...ts.map(heading), 'MooseFS', ...ts.map((t) => (ts.length > 1 ? `ratio ${heading(t).replace('tsmfs ', '')}` : 'ratio'))];
  const body = rows.map((r) => [r.label, r.unit, ...ts.map((t) => formatValue(r.medians[t])), formatValue(r.medians.moosefs), ...ts.map((t) => formatRatio(r.ratios[t]))]);
  return [head, body];
}

/** The table as text for the terminal: aligned columns. */
export function textTable(rows) {
  const [head, body] = cells(rows);
  const lines = [head, ...body.map((l) => [l[0].replaceAll('`', ''), ...l.slice(1)])];
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const line = (l) => l.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(lines[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.slice(1).map(line)].join('\n');
}

/** The table in Markdown, for docs/benchmarks.md. */
export function markdownTable(rows) {
  const [head, body] = cells(rows);
  return [`| ${head.join(' | ').replace('| MooseFS |', '| MooseFS 3.0 |')} |`, `|${'---|'.repeat(head.length)}`, ...body.map((l) => `| ${l.join(' | ')} |`)].join('\n');
}

/** One run's entry for docs/benchmarks.md: when, what, under which load, then the table. */
export function markdownRun(result) {
  const keys = (config) => Object.entries(config).map(([k, v]) => `${k} = ${v}`).join(', ') || 'the master\'s defaults';
  const tsmfs = Object.entries(result.tsmfsConfigs)
    .map(([name, config]) => `${heading(name)}: ${keys(config)}`)
    .join('; ');
  return [
    `### ${result.date}, commit ${result.commit} (${result.mode}, ${result.rounds} round${result.rounds === 1 ? '' : 's'})`,
    '',
    `\`${result.command}\`; MooseFS ${result.moosefsVersion}: ${keys(result.moosefsConfig)}; ${tsmfs}. ` +
      `Load average (1 min) at the start ${result.load.start[0].toFixed(2)}, at the end ${result.load.end[0].toFixed(2)}, ${result.machine.cpus} CPUs. ` +
      (result.warmup ? `Before the first round every target ran ${result.warmup.groups.join(', ')} once at the quick sizes, unmeasured. ` : 'No warm-up pass. ') +
      'Medians of the rounds; ratio > 1: tsmfs ahead.',
    '',
    markdownTable(result.rows),
    '',
  ].join('\n');
}

/**
 * MooseFS's number formats for its tools: `-n` plain numbers (the default here, so
 * that scripts get exact values), `-h` binary prefixes (Ki, Mi, Gi … powers of 1024),
 * `-H` decimal SI prefixes (k, M, G … powers of 1000). Values below the first step
 * print unchanged; others with three significant digits, e.g. `1.50Mi`, `64.0M`.
 */
export type NumberFormat = 'plain' | 'binary' | 'si';

const BINARY = ['Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];
const SI = ['k', 'M', 'G', 'T', 'P', 'E'];

export function formatNumber(n: number, format: NumberFormat): string {
  if (format === 'plain' || !Number.isFinite(n)) return String(n);
  const base = format === 'binary' ? 1024 : 1000;
  const units = format === 'binary' ? BINARY : SI;
  if (Math.abs(n) < base) return String(n);
  let v = n;
  let i = -1;
  while (Math.abs(v) >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)}${units[i]}`;
}

/** The format chosen by -n/-h/-H; the last one given wins, as with MooseFS's getopt loop. */
export function numberFormatFrom(opts: { n?: boolean; h?: boolean; H?: boolean }, argv: readonly string[] = []): NumberFormat {
  let chosen: NumberFormat = 'plain';
  for (const a of argv) {
    if (a === '-n') chosen = 'plain';
    else if (a === '-h') chosen = 'binary';
    else if (a === '-H') chosen = 'si';
  }
  if (argv.length > 0) return chosen;
  return opts.H ? 'si' : opts.h ? 'binary' : 'plain';
}

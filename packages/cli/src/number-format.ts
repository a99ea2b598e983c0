/**
 * MooseFS's number formats for its tools (man mfstools, "GENERAL OPTIONS"), as MooseFS
 * 3.0.117's tools print them (derived by running them; see number-format.test.ts):
 *
 * - `-n` plain numbers (the default), right-aligned in 10 columns (32-bit counts) or 20
 *   (64-bit values);
 * - `-k`, `-m`, `-g` the number divided by 1024, 1024² or 1024³, rounded down, in 3, 6 or
 *   9 columns fewer (counts too: 1023 inodes show as 0 with -k);
 * - `-h` binary prefixes (Ki, Mi … Ei) in 6 columns, `-H` SI prefixes (k, M … E) in 5;
 *   sizes take a `B` (3B, 1.5KiB), counts do not (1.0Ki). Below 1000 the number itself;
 *   from there the smallest prefix whose value rounds (half up, exactly) below 1000: with
 *   one decimal below 10 (1.0Ki for 1000 to 1075), else whole (10Ki, 999Ki, then 1.0Mi);
 * - MFSHRFORMAT=3|h+ or 4|H+: the -h or -H form, then the plain number in parentheses.
 */
export type NumberFormat = 'plain' | 'kibi' | 'mebi' | 'gibi' | 'binary' | 'si' | 'binary+' | 'si+';

/** What a number is: a 64-bit value (20 plain columns, not 10), a size in bytes (a `B` after a prefix). */
export interface NumberKind {
  wide?: boolean;
  bytes?: boolean;
}

const PREFIXES = ['k', 'M', 'G', 'T', 'P', 'E'];
const SHIFT: Partial<Record<NumberFormat, number>> = { kibi: 1, mebi: 2, gibi: 3 };

/** How many columns a number of this kind takes in this format: what MooseFS pads to. */
export function numberWidth(format: NumberFormat, kind: NumberKind = {}): number {
  const plain = kind.wide ? 20 : 10;
  switch (format) {
    case 'binary': return 6;
    case 'si': return 5;
    case 'binary+':
    case 'si+': return numberWidth(bothForm(format), kind) + ' ()'.length + plain;
    default: return plain - 3 * (SHIFT[format] ?? 0);
  }
}

/** `n` as MooseFS prints it in this format, padded to its column (numberWidth). */
export function formatNumber(n: number | bigint, format: NumberFormat, kind: NumberKind = {}): string {
  return numberText(n, format, kind).padStart(numberWidth(format, kind));
}

/** A cell with no number (a quota limit not set): '-' in the number's column. */
export function noNumber(format: NumberFormat, kind: NumberKind = {}): string {
  return '-'.padStart(numberWidth(format, kind));
}

function numberText(n: number | bigint, format: NumberFormat, kind: NumberKind): string {
  // The master's values are whole numbers; anything else prints as JavaScript writes it.
  if (typeof n === 'number' && !Number.isInteger(n)) return String(n);
  const v = BigInt(n);
  // MooseFS's values are unsigned; a negative one (none is shown by its tools) keeps its sign.
  if (v < 0n) return `-${numberText(-v, format, kind)}`;
  const plain = String(v);
  switch (format) {
    case 'plain': return plain;
    case 'kibi':
    case 'mebi':
    case 'gibi': return String(v >> BigInt(10 * SHIFT[format]!));
    case 'binary':
    case 'si': return human(v, format === 'binary', kind.bytes === true);
    case 'binary+':
    case 'si+': return `${formatNumber(v, bothForm(format), kind)} (${formatNumber(v, 'plain', kind)})`;
  }
}

/** MFSHRFORMAT 3 and 4's prefixed half. */
const bothForm = (format: 'binary+' | 'si+'): NumberFormat => (format === 'binary+' ? 'binary' : 'si');

/** Division rounding half up, on integers: the exact decimal rounding MooseFS's tools show (98500 -H: 99kB, 1250: 1.3kB). */
const roundedDiv = (a: bigint, b: bigint): bigint => (2n * a + b) / (2n * b);

function human(v: bigint, binary: boolean, bytes: boolean): string {
  const unit = bytes ? 'B' : '';
  if (v < 1000n) return `${v}${unit}`;
  const base = binary ? 1024n : 1000n;
  // The last prefix (E) takes whatever is left: 2^64 - 1 bytes is 16EiB.
  for (let i = 0, d = base; ; i++, d *= base) {
    const prefix = `${binary && i === 0 ? 'K' : PREFIXES[i]}${binary ? 'i' : ''}${unit}`;
    const tenths = roundedDiv(10n * v, d);
    if (tenths < 100n) return `${tenths / 10n}.${tenths % 10n}${prefix}`;
    const whole = roundedDiv(v, d);
    if (whole < 1000n || i === PREFIXES.length - 1) return `${whole}${prefix}`;
  }
}

/** The letters that choose a format: -n/-h/-H (the form) and -k/-m/-g (the unit of a plain number). */
export const FORMAT_FLAGS = ['n', 'h', 'H', 'k', 'm', 'g'] as const;
export type FormatFlag = (typeof FORMAT_FLAGS)[number];

const ENV_FORMS: Record<string, NumberFormat> = { 0: 'plain', 1: 'binary', h: 'binary', 2: 'si', H: 'si', 3: 'binary+', 'h+': 'binary+', 4: 'si+', 'H+': 'si+' };

/**
 * The format chosen by the flags in the order given and MFSHRFORMAT (`env`), as MooseFS's
 * tools choose it: the variable sets the form, -n/-h/-H replace it (the last one wins);
 * -k/-m/-g (the last one wins) apply only when the form is plain, whichever came first
 * (`-h -k` and `-k -h` are both -h, `-g -n` is -g). An unknown MFSHRFORMAT is plain.
 */
export function numberFormatFrom(flags: readonly FormatFlag[], env: string | undefined = undefined): NumberFormat {
  let form: NumberFormat = (env !== undefined && Object.hasOwn(ENV_FORMS, env) ? ENV_FORMS[env] : undefined) ?? 'plain';
  let unit: NumberFormat = 'plain';
  for (const f of flags) {
    if (f === 'n') form = 'plain';
    else if (f === 'h') form = 'binary';
    else if (f === 'H') form = 'si';
    else unit = f === 'k' ? 'kibi' : f === 'm' ? 'mebi' : 'gibi';
  }
  return form === 'plain' ? unit : form;
}

import { fail } from '@tsmfs/protocol';

/**
 * MooseFS 3.0's labels expressions (mfsscadmin(1), "LABELS EXPRESSIONS"): one
 * subexpression per copy, separated by commas. A subexpression is `*` (any server) or a
 * label schema: labels are the letters A–Z, a sum (`A+B`, also `A|B`) is "any of them",
 * a product (`AB`, also `A*B` or `A&B`) is "all of them", and brackets (`[...]` or
 * `(...)`) group. A number in front repeats a subexpression (`2A` = `A,A`); a number
 * alone is that many `*` (`2` = `2*` = `*,*`).
 *
 * A copy's schema is kept as a sum of products (each product a set of labels; the
 * empty product, `*`, matches every server), so matching a server is a subset test.
 */
export type CopyRule = readonly (readonly string[])[];

/** One copy per element. */
export type LabelExpr = readonly CopyRule[];

/** MooseFS keeps up to 9 copies per class (as goals); more than that is a typo. */
export const MAX_COPIES = 9;
/** A schema whose sum of products would grow past this is refused (brackets multiplied out). */
const MAX_PRODUCTS = 64;

const ANY: CopyRule = [[]];

/** Parses an expression; EINVAL says what is wrong with it. */
export function parseLabelExpr(text: string): LabelExpr {
  const src = text.replace(/\s+/g, '').toUpperCase();
  if (src === '') throw fail('EINVAL', 'empty labels expression');
  const copies: CopyRule[] = [];
  for (const part of src.split(',')) {
    const m = /^(\d*)(.*)$/.exec(part)!;
    const count = m[1] === '' ? 1 : Number(m[1]);
    const body = m[2]!;
    if (count < 1) throw fail('EINVAL', `labels expression '${text}': a copy count must be 1 or more`);
    const rule = body === '' ? (m[1] === '' ? undefined : ANY) : body === '*' ? ANY : new Parser(body, text).rule();
    if (!rule) throw fail('EINVAL', `labels expression '${text}': empty subexpression`);
    for (let k = 0; k < count; k++) copies.push(rule);
    if (copies.length > MAX_COPIES) throw fail('EINVAL', `labels expression '${text}': more than ${MAX_COPIES} copies`);
  }
  return copies;
}

/**
 * The expression as `mfsscadmin list -l` would show it: copies in order, equal ones
 * merged into a count (`2A`), a product as its letters, a sum with `+`, `*` for any.
 */
export function formatLabelExpr(expr: LabelExpr): string {
  const parts: string[] = [];
  let k = 0;
  while (k < expr.length) {
    const text = formatRule(expr[k]!);
    let n = 1;
    while (k + n < expr.length && formatRule(expr[k + n]!) === text) n++;
    parts.push(n > 1 ? `${n}${text}` : text);
    k += n;
  }
  return parts.join(',');
}

/**
 * The expression as MooseFS 3.0's tools print it (mfsscadmin list -l, change): every copy
 * in brackets, its products joined by '+', `*` for any, copies separated by ' , '.
 */
export function mooseLabelExpr(expr: LabelExpr): string {
  return expr.map((rule) => `[${isAny(rule) ? '*' : rule.map((p) => p.join('')).join('+')}]`).join(' , ');
}

function formatRule(rule: CopyRule): string {
  if (isAny(rule)) return '*';
  const terms = rule.map((p) => p.join(''));
  return terms.length === 1 ? terms[0]! : terms.join('+');
}

/** Whether a copy may go anywhere. */
export function isAny(rule: CopyRule): boolean {
  return rule.some((p) => p.length === 0);
}

/** Whether a server with `labels` (upper case) may hold a copy of this rule. */
export function matches(rule: CopyRule, labels: ReadonlySet<string>): boolean {
  return rule.some((product) => product.every((l) => labels.has(l)));
}

/** Whether every copy of the expression may go anywhere (a plain goal). */
export function isPlain(expr: LabelExpr): boolean {
  return expr.every(isAny);
}

/** Recursive descent over one subexpression: sum := product (('+'|'|') product)*, product := factor (('*'|'&')? factor)*. */
class Parser {
  private pos = 0;
  constructor(
    private readonly s: string,
    private readonly whole: string,
  ) {}

  rule(): CopyRule {
    const r = this.sum();
    if (this.pos !== this.s.length) this.bad(`unexpected '${this.s[this.pos]}'`);
    return r;
  }

  private sum(): CopyRule {
    const terms: (readonly string[])[] = [...this.product()];
    while (this.peek() === '+' || this.peek() === '|') {
      this.pos++;
      terms.push(...this.product());
    }
    return normalize(terms);
  }

  private product(): CopyRule {
    let acc = this.factor();
    for (;;) {
      const c = this.peek();
      if (c === '*' || c === '&') this.pos++;
      else if (c === undefined || !(isLetter(c) || c === '(' || c === '[')) break;
      const next = this.factor();
      const out: string[][] = [];
      for (const a of acc) for (const b of next) out.push([...a, ...b]);
      if (out.length > MAX_PRODUCTS) this.bad('too complex');
      acc = normalize(out);
    }
    return acc;
  }

  private factor(): CopyRule {
    const c = this.peek();
    if (c !== undefined && isLetter(c)) {
      this.pos++;
      return [[c]];
    }
    if (c === '(' || c === '[') {
      this.pos++;
      const inner = this.sum();
      const close = c === '(' ? ')' : ']';
      if (this.peek() !== close) this.bad(`missing '${close}'`);
      this.pos++;
      return inner;
    }
    return this.bad(c === undefined ? 'ends too early' : `unexpected '${c}'`);
  }

  private peek(): string | undefined {
    return this.s[this.pos];
  }

  private bad(why: string): never {
    throw fail('EINVAL', `labels expression '${this.whole}': ${why}`);
  }
}

function isLetter(c: string): boolean {
  return c >= 'A' && c <= 'Z';
}

/** Each product's labels sorted and unique; duplicate products dropped: one spelling per meaning. */
function normalize(terms: readonly (readonly string[])[]): CopyRule {
  const seen = new Set<string>();
  const out: string[][] = [];
  for (const t of terms) {
    const p = [...new Set(t)].sort();
    const key = p.join('');
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}

/**
 * A small schema language for message bodies. Each message is declared once as a
 * schema; from it come the TypeScript type (Infer), the check every decoded body must
 * pass before a handler sees it (validate), and — in the tests — fast-check
 * arbitraries. A hand-written checker per message would drift from its type.
 */

export type Schema =
  | { readonly k: 'uint'; readonly max: number }
  | { readonly k: 'int' }
  | { readonly k: 'float' }
  | { readonly k: 'bool' }
  | { readonly k: 'str'; readonly max: number }
  | { readonly k: 'bytes'; readonly max: number }
  | { readonly k: 'lit'; readonly values: readonly (string | number)[] }
  | { readonly k: 'arr'; readonly of: Schema; readonly max: number }
  | { readonly k: 'obj'; readonly fields: Readonly<Record<string, Schema>> }
  | { readonly k: 'opt'; readonly of: Schema };

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<F> = { [K in keyof F]: F[K] extends { k: 'opt' } ? K : never }[keyof F];
type RequiredKeys<F> = Exclude<keyof F, OptionalKeys<F>>;

export type Infer<S> = S extends { k: 'uint' | 'int' | 'float' }
  ? number
  : S extends { k: 'bool' }
    ? boolean
    : S extends { k: 'str' }
      ? string
      : S extends { k: 'bytes' }
        ? Uint8Array
        : S extends { k: 'lit'; values: readonly (infer V)[] }
          ? V
          : S extends { k: 'arr'; of: infer E }
            ? Infer<E>[]
            : S extends { k: 'opt'; of: infer E }
              ? Infer<E> | undefined
              : S extends { k: 'obj'; fields: infer F }
                ? Simplify<
                    { [K in RequiredKeys<F>]: Infer<F[K]> } & {
                      [K in OptionalKeys<F>]?: Infer<F[K]>;
                    }
                  >
                : never;

const U32_MAX = 0xffff_ffff;

export const t = {
  u8: { k: 'uint', max: 0xff } as const,
  u16: { k: 'uint', max: 0xffff } as const,
  u32: { k: 'uint', max: U32_MAX } as const,
  /** Unsigned up to 2^53-1: chunk ids, sizes, versions. */
  u53: { k: 'uint', max: Number.MAX_SAFE_INTEGER } as const,
  i53: { k: 'int' } as const,
  f64: { k: 'float' } as const,
  bool: { k: 'bool' } as const,
  str: <M extends number>(max: M) => ({ k: 'str', max }) as const,
  bytes: <M extends number>(max: M) => ({ k: 'bytes', max }) as const,
  lit: <const V extends readonly (string | number)[]>(...values: V) => ({ k: 'lit', values }) as const,
  arr: <E extends Schema>(of: E, max: number) => ({ k: 'arr', of, max }) as const,
  obj: <const F extends Record<string, Schema>>(fields: F) => ({ k: 'obj', fields }) as const,
  opt: <E extends Schema>(of: E) => ({ k: 'opt', of }) as const,
};

/** A decoded body that does not match its schema. */
export class SchemaError extends Error {
  constructor(
    readonly path: string,
    readonly expected: string,
  ) {
    super(`${path || 'body'}: expected ${expected}`);
    this.name = 'SchemaError';
  }
}

/** Throws SchemaError unless `value` matches `schema`; returns it typed. */
export function validate<S extends Schema>(schema: S, value: unknown, path = ''): Infer<S> {
  check(schema, value, path);
  return value as Infer<S>;
}

function check(s: Schema, v: unknown, path: string): void {
  switch (s.k) {
    case 'uint':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > s.max) {
        throw new SchemaError(path, `integer 0..${s.max}`);
      }
      return;
    case 'int':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new SchemaError(path, 'integer');
      return;
    case 'float':
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new SchemaError(path, 'finite number');
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw new SchemaError(path, 'boolean');
      return;
    case 'str':
      if (typeof v !== 'string' || v.length > s.max) throw new SchemaError(path, `string of at most ${s.max}`);
      return;
    case 'bytes':
      if (!(v instanceof Uint8Array) || v.length > s.max) throw new SchemaError(path, `bytes of at most ${s.max}`);
      return;
    case 'lit':
      if (!s.values.includes(v as string | number)) throw new SchemaError(path, `one of ${s.values.join('|')}`);
      return;
    case 'opt':
      if (v !== undefined) check(s.of, v, path);
      return;
    case 'arr':
      checkArray(s.of, s.max, v, path);
      return;
    case 'obj':
      checkObject(s.fields, v, path);
      return;
  }
}

function checkArray(of: Schema, max: number, v: unknown, path: string): void {
  if (!Array.isArray(v) || v.length > max) throw new SchemaError(path, `array of at most ${max}`);
  for (let i = 0; i < v.length; i++) check(of, v[i], `${path}[${i}]`);
}

function checkObject(fields: Readonly<Record<string, Schema>>, v: unknown, path: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new SchemaError(path, 'object');
  }
  const rec = v as Record<string, unknown>;
  for (const key in fields) check(fields[key]!, rec[key], path ? `${path}.${key}` : key);
}

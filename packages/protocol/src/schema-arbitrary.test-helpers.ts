import fc from 'fast-check';
import type { Infer, Schema } from './schema.js';

/**
 * fast-check arbitraries derived from a message schema, so every message in the
 * catalogue is property-tested without a hand-written generator that could drift.
 * Sizes are capped well below the schema limits to keep runs fast.
 */
export function arbitraryOf<S extends Schema>(s: S): fc.Arbitrary<Infer<S>> {
  return build(s) as fc.Arbitrary<Infer<S>>;
}

function build(s: Schema): fc.Arbitrary<unknown> {
  switch (s.k) {
    case 'uint':
      return s.max <= 0xffff_ffff ? fc.integer({ min: 0, max: s.max }) : fc.maxSafeNat();
    case 'int':
      return fc.maxSafeInteger();
    case 'float':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'bool':
      return fc.boolean();
    case 'str':
      return fc.string({ maxLength: Math.min(s.max, 40), unit: 'grapheme' }).filter((x) => x.length <= s.max);
    case 'bytes':
      return fc.uint8Array({ maxLength: Math.min(s.max, 64) }).map((a) => Buffer.from(a));
    case 'lit':
      return fc.constantFrom(...s.values);
    case 'arr':
      return fc.array(build(s.of), { maxLength: Math.min(s.max, 5) });
    case 'opt':
      return fc.option(build(s.of), { nil: undefined });
    case 'obj':
      return objectOf(s.fields);
  }
}

function objectOf(fields: Readonly<Record<string, Schema>>): fc.Arbitrary<unknown> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, v] of Object.entries(fields)) parts[k] = build(v);
  // Optional fields are dropped rather than set to undefined, as a real encoder does.
  return fc.record(parts).map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
}

import { readFileSync } from 'node:fs';

/**
 * MooseFS-style configuration: `KEY = VALUE` lines, `#` comments, every key with a
 * default. Each daemon declares one schema (key, type, default, doc line); parsing,
 * validation, `--help` and docs/ are all produced from it.
 */
export type ConfigType = 'string' | 'int' | 'number' | 'bool' | 'port' | 'host' | 'path';

export interface KeySpec<T extends ConfigType = ConfigType> {
  type: T;
  default: ValueOf<T>;
  doc: string;
  min?: number;
  max?: number;
  /** A string key's syntax beyond the type: the reason a value is refused, or undefined. */
  check?: (value: string) => string | undefined;
}

type ValueOf<T extends ConfigType> = T extends 'int' | 'number' | 'port' ? number : T extends 'bool' ? boolean : string;
export type ConfigSchema = Record<string, KeySpec>;
export type ConfigValues<S extends ConfigSchema> = { [K in keyof S]: ValueOf<S[K]['type']> };

export const key = <T extends ConfigType>(type: T, def: ValueOf<T>, doc: string, range?: { min?: number; max?: number; check?: (value: string) => string | undefined }): KeySpec<T> => ({
  type,
  default: def,
  doc,
  ...range,
});

/** A configuration that cannot be used; the message names the file, line and key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadedConfig<S extends ConfigSchema> {
  values: ConfigValues<S>;
  /** Keys the schema does not know (a MooseFS key tsmfs does not implement, a typo). */
  warnings: string[];
  /** Where each value came from, for the start-up log. */
  source: string;
}

/**
 * Reads `file` (when given) over the schema's defaults. A file named explicitly must
 * exist; without one, the defaults alone are used.
 */
export function loadConfig<S extends ConfigSchema>(schema: S, file: string | undefined): LoadedConfig<S> {
  const values = Object.fromEntries(Object.entries(schema).map(([k, spec]) => [k, spec.default])) as ConfigValues<S>;
  if (file === undefined) return { values, warnings: [], source: 'defaults' };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read configuration file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const warnings = parseInto(schema, values, text, file);
  return { values, warnings, source: file };
}

/**
 * The lines that mean something in a MooseFS-style file (configs, exports, hdd lists):
 * `#` comments and blank lines dropped, each line with its `file:line` for messages.
 */
export function contentLines(text: string, file: string): { line: string; where: string }[] {
  const out: { line: string; where: string }[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line !== '') out.push({ line, where: `${file}:${i + 1}` });
  });
  return out;
}

/** Parses config text into `values`; returns warnings, throws ConfigError on a bad value. */
export function parseInto<S extends ConfigSchema>(schema: S, values: ConfigValues<S>, text: string, file: string): string[] {
  const warnings: string[] = [];
  for (const { line, where } of contentLines(text, file)) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${where}: expected 'KEY = VALUE', found '${line}'`);
    const name = line.slice(0, eq).trim();
    const raw = line.slice(eq + 1).trim();
    const spec = schema[name];
    if (!spec) {
      warnings.push(`${where}: unknown key ${name} (ignored)`);
      continue;
    }
    (values as Record<string, unknown>)[name] = parseValue(spec, raw, `${where}: ${name}`);
  }
  return warnings;
}

function parseValue(spec: KeySpec, raw: string, where: string): string | number | boolean {
  switch (spec.type) {
    case 'int':
    case 'port':
      return parseInteger(spec, raw, where);
    case 'number':
      return parseNumber(spec, raw, where);
    case 'bool':
      return parseBool(raw, where);
    case 'host':
      if (raw === '' || /\s/.test(raw)) throw new ConfigError(`${where}: '${raw}' is not a host name or address`);
      return raw;
    case 'path':
      if (raw === '') throw new ConfigError(`${where}: a path cannot be empty`);
      return raw;
    case 'string': {
      const refused = spec.check?.(raw);
      if (refused !== undefined) throw new ConfigError(`${where}: ${refused}`);
      return raw;
    }
  }
}

function parseInteger(spec: KeySpec, raw: string, where: string): number {
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${where}: '${raw}' is not an integer`);
  const n = Number(raw);
  const min = spec.min ?? (spec.type === 'port' ? 0 : Number.MIN_SAFE_INTEGER);
  const max = spec.max ?? (spec.type === 'port' ? 65535 : Number.MAX_SAFE_INTEGER);
  if (n < min || n > max) throw new ConfigError(`${where}: ${n} is out of range (${min}..${max})`);
  return n;
}

/** A decimal number (MooseFS's float keys, e.g. ACCEPTABLE_PERCENTAGE_DIFFERENCE = 1.0). */
function parseNumber(spec: KeySpec, raw: string, where: string): number {
  if (!/^-?(\d+\.?\d*|\.\d+)$/.test(raw)) throw new ConfigError(`${where}: '${raw}' is not a number`);
  const n = Number(raw);
  if (n < (spec.min ?? -Infinity) || n > (spec.max ?? Infinity)) throw new ConfigError(`${where}: ${n} is out of range (${spec.min ?? ''}..${spec.max ?? ''})`);
  return n;
}

function parseBool(raw: string, where: string): boolean {
  const v = raw.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  throw new ConfigError(`${where}: '${raw}' is not a boolean (use 0/1, yes/no)`);
}

/** The schema as a `--help` section / docs table: one line per key. */
export function describeConfig(schema: ConfigSchema): string {
  const width = Math.max(...Object.keys(schema).map((k) => k.length));
  return Object.entries(schema)
    .map(([k, s]) => `  ${k.padEnd(width)}  ${s.doc} (default: ${String(s.default) === '' ? '""' : String(s.default)})`)
    .join('\n');
}

/** The schema as the Markdown table of docs/configuration.md (tests keep the docs in step). */
export function describeConfigMarkdown(schema: ConfigSchema): string {
  const rows = Object.entries(schema).map(([name, spec]) => {
    const range = spec.min !== undefined || spec.max !== undefined ? ` (${spec.min ?? ''}..${spec.max ?? ''})` : '';
    const def = spec.type === 'bool' ? (spec.default ? '1' : '0') : String(spec.default);
    return `| \`${name}\` | ${spec.type}${range} | \`${def}\` | ${spec.doc.replace(/\|/g, '\\|')} |`;
  });
  return ['| key | type | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

import { writeFileSync } from 'node:fs';

export type ConfigEntries = Record<string, string | number>;

/** Writes a MooseFS-style `KEY = VALUE` file; returns the line number (1-based) of each key. */
export function writeConfig(file: string, entries: ConfigEntries, header = '# written by the tsmfs launcher'): Record<string, number> {
  const lines = [header];
  const lineOf: Record<string, number> = {};
  for (const [k, v] of Object.entries(entries)) {
    lines.push(`${k} = ${v}`);
    lineOf[k] = lines.length;
  }
  writeFileSync(file, lines.join('\n') + '\n');
  return lineOf;
}

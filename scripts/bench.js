#!/usr/bin/env node
// `npm run bench [-- NAME …]`: runs the benchmarks in bench/ (all, or the named ones)
// one after another; each prints progress on stderr and JSON on stdout.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(import.meta.dirname, '..', 'bench');
const all = readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => f.replace(/\.js$/, ''));
const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
if (flags.includes('--help') || flags.includes('-h')) {
  console.log(`usage: npm run bench [-- NAME …]\nbenchmarks: ${all.join(', ')}; each takes --help`);
  process.exit(0);
}
for (const name of names.length ? names : all) {
  if (!all.includes(name)) {
    console.error(`bench: no benchmark named ${name} (have: ${all.join(', ')})`);
    process.exit(2);
  }
  console.error(`== ${name}`);
  const r = spawnSync(process.execPath, [join(dir, `${name}.js`), ...flags], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

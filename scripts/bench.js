#!/usr/bin/env node
// `npm run bench [-- NAME … [OPTIONS]]`: runs the benchmarks in bench/ (all, or the named
// ones) one after another; each prints progress on stderr and JSON on stdout. The names
// come first; everything from the first option on goes to each benchmark (option values
// such as `--tsmfs-config KEY=VALUE` are not names). `compare` runs only when named: it
// installs and starts MooseFS and takes long; so does `sequential` (MooseFS beside tsmfs);
// so does `ab`, which needs two built checkouts.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const dir = resolve(import.meta.dirname, '..', 'bench');
const all = readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => f.replace(/\.js$/, ''));
const explicitOnly = ['compare', 'ab', 'sequential'];
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith('-'));
const names = firstFlag === -1 ? args : args.slice(0, firstFlag);
const flags = firstFlag === -1 ? [] : args.slice(firstFlag);
if (names.length === 0 && (flags.includes('--help') || flags.includes('-h'))) {
  console.log(`usage: npm run bench [-- NAME … [OPTIONS]]\nbenchmarks: ${all.join(', ')}; each takes --help (${explicitOnly.join(', ')}: only when named)`);
  process.exit(0);
}
for (const name of names.length ? names : all.filter((n) => !explicitOnly.includes(n))) {
  if (!all.includes(name)) {
    console.error(`bench: no benchmark named ${name} (have: ${all.join(', ')})`);
    process.exit(2);
  }
  console.error(`== ${name}`);
  const r = spawnSync(process.execPath, [join(dir, `${name}.js`), ...flags], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

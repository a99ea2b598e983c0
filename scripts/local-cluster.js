#!/usr/bin/env node
// The embedded default: a whole tsmfs cluster on loopback with all its data under one
// folder (default ./.tsmfs), in the foreground until Ctrl-C. Components whose daemon is
// not built yet are skipped with a note, so this grows with the project.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';

const root = resolve(import.meta.dirname, '..');
const program = new Command('local-cluster')
  .description('Start a local tsmfs cluster (master, chunkservers, metalogger, mount) on loopback')
  .option('-d, --dir <dir>', 'folder holding every daemon\'s data, configs and logs', join(root, '.tsmfs'))
  .option('--chunkservers <n>', 'number of chunkservers', '3')
  .option('--base-port <port>', 'first of the ports used (master 9419–9425 by default)', '9419')
  .parse();
const opts = program.opts();
const dir = resolve(opts.dir);
const base = Number(opts.basePort);
const ports = { matoml: base, matocs: base + 1, matocl: base + 2, csserv: base + 3, http: base + 6 };

const children = [];

function bin(pkg, name) {
  return join(root, 'packages', pkg, 'dist', 'bin', `${name}.js`);
}

function writeConfig(name, entries) {
  mkdirSync(join(dir, 'etc'), { recursive: true });
  const file = join(dir, 'etc', `${name}.cfg`);
  writeFileSync(file, Object.entries(entries).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  return file;
}

function start(label, script, args) {
  if (!existsSync(script)) {
    console.log(`  ${label.padEnd(14)} not built yet (${script.replace(root + '/', '')}): skipped`);
    return undefined;
  }
  mkdirSync(join(dir, 'log'), { recursive: true });
  const log = createWriteStream(join(dir, 'log', `${label}.log`), { flags: 'a' });
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const ready = new Promise((resolveReady, reject) => {
    let seen = '';
    child.stderr.on('data', (b) => {
      seen += b.toString();
      // Daemons log "ready" once serving; the mount logs "mounted".
      if (/"msg":"(ready|mounted)"/.test(seen)) resolveReady();
    });
    child.on('exit', (code) => {
      const err = new Error(`${label} exited with code ${code}; see ${join(dir, 'log', label + '.log')}:\n${seen.slice(-2000)}`);
      reject(err);
      if (!stopping) console.error(`local-cluster: ${err.message}`);
    });
  });
  children.push({ label, child });
  return ready;
}

async function main() {
  mkdirSync(join(dir, 'master'), { recursive: true });
  console.log(`tsmfs local cluster in ${dir}`);
  const master = writeConfig('master', {
    DATA_PATH: join(dir, 'master'),
    MATOML_LISTEN_HOST: '127.0.0.1', MATOML_LISTEN_PORT: ports.matoml,
    MATOCS_LISTEN_HOST: '127.0.0.1', MATOCS_LISTEN_PORT: ports.matocs,
    MATOCL_LISTEN_HOST: '127.0.0.1', MATOCL_LISTEN_PORT: ports.matocl,
    HTTP_LISTEN_HOST: '127.0.0.1', HTTP_LISTEN_PORT: ports.http,
  });
  await start('master', bin('master', 'tsmfs-master'), ['-c', master]);
  console.log(`  master         127.0.0.1:${ports.matocl} (clients), data in ${join(dir, 'master')}`);
  const waits = [];
  for (let i = 1; i <= Number(opts.chunkservers); i++) {
    const disk = join(dir, `chunkserver${i}`, 'disk');
    mkdirSync(disk, { recursive: true });
    const hdd = join(dir, 'etc', `hdd${i}.cfg`);
    writeFileSync(hdd, `${disk}\n`);
    const cfg = writeConfig(`chunkserver${i}`, {
      DATA_PATH: join(dir, `chunkserver${i}`), HDD_CONF_FILENAME: hdd,
      MASTER_HOST: '127.0.0.1', MASTER_PORT: ports.matocs,
      CSSERV_LISTEN_HOST: '127.0.0.1', CSSERV_LISTEN_PORT: ports.csserv + 100 + i,
    });
    const label = `chunkserver${i}`;
    const started = start(label, bin('chunkserver', 'tsmfs-chunkserver'), ['-c', cfg]);
    waits.push(started?.then(() => console.log(`  ${label.padEnd(14)} 127.0.0.1:${ports.csserv + 100 + i}, disk ${disk}`)));
  }
  mkdirSync(join(dir, 'metalogger'), { recursive: true });
  const ml = writeConfig('metalogger', { DATA_PATH: join(dir, 'metalogger'), MASTER_HOST: '127.0.0.1', MASTER_PORT: ports.matoml });
  const metalogger = start('metalogger', bin('metalogger', 'tsmfs-metalogger'), ['-c', ml]);
  waits.push(metalogger?.then(() => console.log(`  metalogger     data in ${join(dir, 'metalogger')}`)));
  await Promise.all(waits.filter(Boolean));
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt, { recursive: true });
  const mount = start('mount', bin('mount', 'tsmfs-mount'), [mnt, '-H', '127.0.0.1', '-P', String(ports.matocl), '-f']);
  if (mount) {
    await mount;
    console.log(`  mount          ${mnt}`);
  }
  console.log(`logs in ${join(dir, 'log')}; Ctrl-C stops everything`);
}

let stopping = false;

function stopAll(code) {
  stopping = true;
  for (const { child } of children.reverse()) if (child.exitCode === null) child.kill('SIGTERM');
  setTimeout(() => process.exit(code), 30_000).unref();
  Promise.all(children.map(({ child }) => child.exitCode !== null || new Promise((r) => child.on('exit', r)))).then(() => process.exit(code));
}

process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));
main().catch((err) => {
  console.error(`local-cluster: ${err.message}`);
  stopAll(1);
});

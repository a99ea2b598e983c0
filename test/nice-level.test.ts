/**
 * NICE_LEVEL (every daemon) and -o mfsnice (the mount): MooseFS's keys and default
 * (-19). Every thread of the process gets the level — node starts its own threads before
 * any of our code runs — and a level the process may not take is a logged warning, not a
 * failed start.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BIN, Cluster, makeTempDir } from './fixture/cluster.js';
import { until } from './fixture/poll.js';

/** The nice level of every thread of `pid` (field 19 of /proc/PID/task/TID/stat). */
function threadNice(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

const isRoot = process.getuid?.() === 0;

describe('NICE_LEVEL and -o mfsnice', () => {
  it('a daemon sets NICE_LEVEL on every one of its threads', async () => {
    const cluster = await Cluster.create({ master: { config: { NICE_LEVEL: 7 } } });
    const nice = threadNice(cluster.master.process!.pid);
    expect(nice.length).toBeGreaterThan(4); // node's own threads are there from the start
    expect(nice.every((n) => n === 7), `thread nice levels ${nice.join(' ')}`).toBe(true);
  });

  it.runIf(isRoot)('the default is -19, as MooseFS', async () => {
    const cluster = await Cluster.create();
    const [cs] = await cluster.addChunkservers(1);
    for (const pid of [cluster.master.process!.pid, cs!.process!.pid]) {
      const nice = threadNice(pid);
      expect(nice.every((n) => n === -19), `thread nice levels ${nice.join(' ')}`).toBe(true);
    }
  });

  it('a level the process may not take: a warning, and the daemon serves at its inherited level', async () => {
    const cluster = await Cluster.create({ noStart: true, master: { config: { NICE_LEVEL: -5 } } });
    // Without CAP_SYS_NICE (even as root) a process may not lower its nice level.
    const child = spawn('setpriv', ['--bounding-set', '-sys_nice', '--inh-caps', '-sys_nice', process.execPath, BIN.master, '-c', cluster.master.configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'info' },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    try {
      const before = threadNice(process.pid)[0]!;
      await until('the master to start or exit', async () => (out.includes('"msg":"ready"') || child.exitCode !== null ? true : undefined), 60_000);
      expect(out).toContain('"msg":"ready"');
      expect(out).toContain('cannot set the nice level');
      expect(threadNice(child.pid!).every((n) => n === before)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('the mount takes -o mfsnice=N for every thread, and refuses a level out of range', async () => {
    const cluster = await Cluster.create();
    const m = await cluster.mount({ options: ['mfsnice=6'] });
    const nice = threadNice(m.pid);
    expect(nice.every((n) => n === 6), `thread nice levels ${nice.join(' ')}`).toBe(true);
    await m.unmount();
    const bad = spawnSync(process.execPath, [BIN.mount, makeTempDir(), '-f', '-H', '127.0.0.1:1', '-o', 'mfsnice=25'], { encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('-o mfsnice=25: not a nice level (-20..19)');
  });
});

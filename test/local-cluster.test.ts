/**
 * `npm start -- --ha` (scripts/local-cluster.js): the embedded default as an HA group — a
 * local etcd and three masters on 127.0.0.1, .2 and .3 on the same ports, chunkservers and
 * a metalogger given the list of masters, a mount given it with -H. The mount goes on
 * after the leader is killed, and Ctrl-C stops every process the script started.
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alive, childPids, freePortBlock, fuseUnmount, isMounted } from '@tsmfs/launcher';
import { describe, expect, it } from 'vitest';
import { DaemonProcess, REPO_ROOT, makeTempDir } from './fixture/cluster.js';
import { sh } from './fixture/mount-shell.js';
import { until } from './fixture/poll.js';

const HOSTS = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return ''; // gone meanwhile
  }
}

/** The daemon among `pids` whose command line names `config` (the launcher passes -c FILE). */
function pidOf(pids: number[], config: string): number | undefined {
  return pids.find((p) => cmdline(p).split('\0').includes(config));
}

describe('npm start -- --ha', () => {
  it('runs etcd and three masters on 127.0.0.1-3; the mount survives the leader; Ctrl-C stops everything', { timeout: 150_000 }, async () => {
    const dir = makeTempDir('tsmfs-start-');
    const mnt = join(dir, 'mnt');
    // A port range of its own (masters base..base+6, etcd base+60/61, chunkservers base+104…),
    // below the kernel's ephemeral range, where any outgoing connection of the suite's may
    // hold a port for a moment (etcd's peer port 37124 was taken so in CI on 2026-12-03),
    // and claimed against the other test files' draws.
    const base = await freePortBlock(200);
    const script = new DaemonProcess('local-cluster --ha', [join(REPO_ROOT, 'scripts/local-cluster.js'), '--ha', '-d', dir, '--base-port', String(base)]);
    // The script's daemons are its children, not the fixture's: on a failure the script
    // stops them itself (SIGINT), and whatever is left is killed by pid.
    const started = new Set<number>();
    const track = setInterval(() => childPids(script.pid).forEach((p) => started.add(p)), 200);
    try {
      await script.waitForText('Ctrl-C stops everything', 120_000);
      for (const h of HOSTS) expect(script.output()).toContain(`${h}:${base + 2} (clients)`);

      const statusOf = async (h: string) => (await (await fetch(`http://${h}:${base + 6}/api/status`)).json()) as { role: string; epoch: number };
      const before = await Promise.all(HOSTS.map(statusOf));
      expect(before.map((r) => r.role).sort()).toEqual(['follower', 'follower', 'leader']);
      const leader = before.findIndex((r) => r.role === 'leader');

      await writeFile(join(mnt, 'before'), 'kept\n');
      // tsmfs-cli -SIN on a follower shows the group as its leader sees it: one synchronous
      // standby, in the set once it has acked.
      const follower = HOSTS[before.findIndex((r) => r.role === 'follower')]!;
      const sin = await until('the standby in the synchronous set', async () => {
        const out = (await sh(`node ${join(REPO_ROOT, 'packages/cli/dist/bin/tsmfs-cli.js')} -H ${follower} -P ${base + 6} -SIN`)).stdout;
        return /set in etcd: 127\.0\.0\.\d:/.test(out) ? out : undefined;
      });
      expect(sin).toContain('HA group');
      expect(sin).toMatch(new RegExp(`leader\\s+${HOSTS[leader]!.replaceAll('.', '\\.')}:${base + 2}`));
      expect(sin).toMatch(/synchronous standbys\s+1 wanted/);
      expect(sin).toMatch(/follower\s+acked version\s+behind\s+state\s+link/);
      const leaderPid = pidOf(childPids(script.pid), join(dir, `mfsmaster-m${leader + 1}.cfg`));
      expect(leaderPid).toBeDefined();
      process.kill(leaderPid!, 'SIGKILL');
      // The mount goes to the next master of its -H list once a follower has taken over.
      await writeFile(join(mnt, 'after'), 'new leader\n');
      expect(await readFile(join(mnt, 'before'), 'utf8')).toBe('kept\n');
      const after = await until('a new leader', async () => {
        const s = await Promise.all(HOSTS.filter((_, i) => i !== leader).map((h) => statusOf(h).catch(() => undefined)));
        return s.find((x) => x?.role === 'leader');
      });
      expect(after.epoch).toBeGreaterThan(before[leader]!.epoch);

      const all = childPids(script.pid);
      await script.kill('SIGINT');
      await until('every daemon of the script gone', async () => (all.some(alive) ? undefined : true), 60_000);
      expect(isMounted(mnt)).toBe(false);
    } finally {
      clearInterval(track);
      if (script.running) await script.kill('SIGINT');
      // Only a pid still running with this test's folder on its command line (not a reused one).
      for (const p of [...started].filter((p) => alive(p) && cmdline(p).includes(dir))) process.kill(p, 'SIGKILL');
      await fuseUnmount(mnt);
    }
  });
});

/**
 * Locks shared by every mount (issue 13 item 4; docs/mount.md, "Locks"): flock(2) and
 * POSIX record locks held by the master, with a real master and two real mounts, taken by
 * real processes (python3 through ctypes, test/fixture/lock-driver.py) so that errno
 * values are the kernel's as a program sees them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';
import { lockDrivers } from './fixture/lock-driver.js';
import { until } from './fixture/poll.js';

const driver = lockDrivers();

async function twoMounts(config: Record<string, number> = {}) {
  const c = await Cluster.create({ master: { config: { REPLICATIONS_DELAY_INIT: 0, ...config } } });
  const [a, b] = await Promise.all([c.mount(), c.mount()]);
  return { c, a, b };
}

/** Whether `p` is still pending after a moment (a blocked lock call). */
async function pending(p: Promise<unknown>, ms = 300): Promise<boolean> {
  return Promise.race([p.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), ms))]);
}

describe('locks between two mounts', () => {
  it('flock: two mounts exclude each other; a blocked flock is granted on release and interrupted by a signal with EINTR', async () => {
    const { a, b } = await twoMounts();
    const [p, q, r] = await Promise.all([driver(), driver(), driver()]);
    const fp = await p.open(`${a.path}/f`);
    const fq = await q.open(`${b.path}/f`);
    const fr = await r.open(`${b.path}/f`);

    expect(await p.errno(`flock ${fp} EX`)).toBeUndefined();
    expect(await q.errno(`flock ${fq} EX+NB`)).toBe('EAGAIN');
    expect(await q.errno(`flock ${fq} SH+NB`)).toBe('EAGAIN');
    // A blocked flock: granted when the holder unlocks.
    const granted = q.send(`flock ${fq} EX`);
    expect(await pending(granted)).toBe(true);
    expect(await p.errno(`flock ${fp} UN`)).toBeUndefined();
    expect((await granted).errno).toBeUndefined();
    expect(await p.errno(`flock ${fp} SH+NB`)).toBe('EAGAIN');

    // Interrupted: EINTR, and no waiter left behind (r gets nothing when q lets go).
    expect(await p.errno('alarm 0.5')).toBeUndefined();
    expect(await p.errno(`flock ${fp} EX`)).toBe('EINTR');
    expect(await q.errno(`flock ${fq} UN`)).toBeUndefined();
    expect(await r.errno(`flock ${fr} EX+NB`)).toBeUndefined();
    const stats = await readFile(join(a.path, '.stats'), 'utf8');
    expect(stats).toContain('lock_waits_interrupted: 1\n');
    // The last close of r's open file releases its flock: p takes it. Not necessarily at
    // once: the kernel sends that RELEASE (with the flock flag) after close(2) has
    // returned, asynchronously, on every FUSE file system (CI saw EAGAIN once at load).
    expect(await r.errno(`close ${fr}`)).toBeUndefined();
    await until('r\'s flock released by its last close', async () => ((await p.errno(`flock ${fp} EX+NB`)) === undefined ? true : undefined), 10_000, 20);
    // Shared locks share across mounts.
    expect(await p.errno(`flock ${fp} SH`)).toBeUndefined();
    expect(await q.errno(`flock ${fq} SH+NB`)).toBeUndefined();
  });

  it('POSIX record locks: ranges, F_GETLK with the holder, F_SETLKW, any close drops the process’s locks, OFD locks, EDEADLK', async () => {
    const { a, b } = await twoMounts();
    const [p, q] = await Promise.all([driver(), driver()]);
    const fp = await p.open(`${a.path}/g`);
    const fq = await q.open(`${b.path}/g`);

    expect(await p.errno(`fcntl ${fp} SETLK WR 0 100`)).toBeUndefined();
    expect(await q.errno(`fcntl ${fq} SETLK WR 50 10`)).toBe('EAGAIN');
    expect(await q.errno(`fcntl ${fq} SETLK RD 99 1`)).toBe('EAGAIN');
    expect(await q.errno(`fcntl ${fq} SETLK WR 100 10`)).toBeUndefined();
    // F_GETLK on the other mount names the holder (the pid as the kernel translates it: the same machine here).
    expect(await q.send(`fcntl ${fq} GETLK WR 10 5`)).toEqual({ type: 'WR', start: 0, len: 100, pid: p.pid });
    expect((await q.send(`fcntl ${fq} GETLK RD 200 0`)).type).toBe('UN');
    // p unlocks the middle: its lock splits, the freed range is q's to take.
    expect(await p.errno(`fcntl ${fp} SETLK UN 40 20`)).toBeUndefined();
    expect(await q.send(`fcntl ${fq} GETLK WR 0 0`)).toEqual({ type: 'WR', start: 0, len: 40, pid: p.pid });
    expect(await q.errno(`fcntl ${fq} SETLK WR 45 10`)).toBeUndefined();
    expect(await p.errno(`fcntl ${fp} SETLK RD 45 1`)).toBe('EAGAIN');

    // F_SETLKW blocks, then is granted when the holder unlocks.
    const waited = q.send(`fcntl ${fq} SETLKW WR 0 10`);
    expect(await pending(waited)).toBe(true);
    expect(await p.errno(`fcntl ${fp} SETLK UN 0 10`)).toBeUndefined();
    expect((await waited).errno).toBeUndefined();

    // Any close of the file by the process drops its locks (POSIX), even through another descriptor.
    const other = await p.open(`${a.path}/g`);
    expect(await q.errno(`fcntl ${fq} SETLK WR 60 10`)).toBe('EAGAIN');
    expect(await p.errno(`close ${other}`)).toBeUndefined();
    expect(await q.errno(`fcntl ${fq} SETLK WR 60 40`)).toBeUndefined();

    // EDEADLK: p holds 200, q holds 300; q waits for 200; p asking for 300 would close the cycle.
    expect(await p.errno(`fcntl ${fp} SETLK WR 200 1`)).toBeUndefined();
    expect(await q.errno(`fcntl ${fq} SETLK WR 300 1`)).toBeUndefined();
    const qWaits = q.send(`fcntl ${fq} SETLKW WR 200 1`);
    expect(await pending(qWaits)).toBe(true);
    expect(await p.errno(`fcntl ${fp} SETLKW WR 300 1`)).toBe('EDEADLK');
    expect(await p.errno(`fcntl ${fp} SETLK UN 200 1`)).toBeUndefined();
    expect((await qWaits).errno).toBeUndefined();

    // Open file description locks: owned by the open file, across mounts too, gone with its last close.
    const op = await p.open(`${a.path}/h`);
    const oq = await q.open(`${b.path}/h`);
    expect(await p.errno(`fcntl ${op} OFD_SETLK WR 0 0`)).toBeUndefined();
    expect(await q.errno(`fcntl ${oq} OFD_SETLK RD 5 5`)).toBe('EAGAIN');
    expect(await q.errno(`fcntl ${oq} SETLK RD 5 5`)).toBe('EAGAIN');
    expect(await p.errno(`close ${op}`)).toBeUndefined();
    // The release follows the close asynchronously.
    await until('the OFD lock released by the close', async () => ((await q.errno(`fcntl ${oq} OFD_SETLK WR 0 0`)) === undefined ? true : undefined), 5000);
  });

  it('a mount killed with its locks held: they are released after LOCK_SUSTAIN_TIME (its session stays), and a waiter on the other mount gets them', async () => {
    const { c, a, b } = await twoMounts({ LOCK_SUSTAIN_TIME: 2 });
    const [p, q] = await Promise.all([driver(), driver()]);
    const fp = await p.open(`${a.path}/k`);
    const fq = await q.open(`${b.path}/k`);
    expect(await p.errno(`fcntl ${fp} SETLK WR 0 0`)).toBeUndefined();
    expect(await p.errno(`flock ${fp} EX`)).toBeUndefined();
    const posix = q.send(`fcntl ${fq} SETLKW WR 0 1`);
    expect(await pending(posix)).toBe(true);
    process.kill(a.pid, 'SIGKILL');
    // The session is sustained SESSION_SUSTAIN_TIME (a day) for its mount to come back; its
    // locks only LOCK_SUSTAIN_TIME: a dead mount must not block the others for a day.
    expect((await posix).errno).toBeUndefined();
    expect(await q.errno(`flock ${fq} EX+NB`)).toBeUndefined();
    expect(c.master.logs().some((l) => l.msg === 'client session expired')).toBe(false);
    expect(c.master.logs().filter((l) => String(l.msg).includes('locks released (LOCK_SUSTAIN_TIME)'))).toHaveLength(1);
  });
});

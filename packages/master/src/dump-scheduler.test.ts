import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DumpScheduler } from './dump-scheduler.js';

describe('DumpScheduler', () => {
  it('dumps on its signal, rotates the changelog after the dump, and coalesces overlapping requests', async () => {
    const events: string[] = [];
    let finish: () => void = () => {};
    const scheduler = new DumpScheduler({
      everyMs: 3_600_000,
      dump: async () => {
        events.push('dump');
        await new Promise<void>((r) => (finish = r));
        events.push('dumped');
        return { version: 1, bytes: 1, ms: 0 };
      },
      rotateChangelog: async () => void events.push('rotate'),
      signal: 'SIGUSR2',
      log: pino({ level: 'silent' }),
    });
    await scheduler.start();
    process.kill(process.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 50));
    const second = scheduler.dumpNow('test');
    finish();
    await second;
    expect(events).toEqual(['dump', 'dumped', 'rotate']);
    await scheduler.stop();
    expect(process.listenerCount('SIGUSR2')).toBe(0);
  });
});

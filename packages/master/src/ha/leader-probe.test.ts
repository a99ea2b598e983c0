import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { portRefuses } from './leader-probe.js';

/**
 * What lets a synchronous standby revoke its leader's lease (docs/ha.md, "Taking over when
 * the leader's stream breaks"): only a refused connection counts as a dead leader. A
 * leader process that is stopped (SIGSTOP, a frozen VM) still has its listening socket,
 * whose kernel completes connections: it must not count as dead.
 */
describe('portRefuses', () => {
  it('false for a listening process, running or stopped; true once it is killed', async () => {
    const child = spawn(process.execPath, ['-e', "require('net').createServer().listen(0, '127.0.0.1', function () { console.log(this.address().port) })"], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(child.stdout!, 'data')) as [Buffer];
      const where = `127.0.0.1:${Number(line.toString().trim())}`;
      expect(await portRefuses(where, 500)).toBe(false);
      child.kill('SIGSTOP');
      expect(await portRefuses(where, 500)).toBe(false);
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
      expect(await portRefuses(where, 500)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

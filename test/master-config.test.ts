/**
 * The master's configuration contract: a bad value, a missing DATA_PATH or a busy port
 * stops it at once with a non-zero exit and a one-line reason naming what is wrong; an
 * unknown key is only warned about.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cluster, type ConfigEntries, type DaemonProcess } from './fixture/cluster.js';

const EXIT_TIMEOUT_MS = 20_000;

async function exitOf(p: DaemonProcess): Promise<{ code: number | null; stderr: string }> {
  const timer = setTimeout(() => p.child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stderr: p.output() };
}

async function startWith(config: ConfigEntries): Promise<{ cluster: Cluster; process: DaemonProcess }> {
  const cluster = await Cluster.create({ noStart: true, master: { config } });
  return { cluster, process: await cluster.master.start({ waitReady: false }) };
}

/** The non-JSON lines of stderr: the one-line message a person reads. */
function plainLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
}

describe('master configuration', () => {
  it('a bad value: non-zero exit, stderr names the file, the line and the key', async () => {
    const { cluster, process } = await startWith({ MATOCL_LISTEN_PORT: 'abc' });
    const { code, stderr } = await exitOf(process);
    expect(code).not.toBe(0);
    const line = cluster.master.configLines.MATOCL_LISTEN_PORT!;
    expect(stderr).toContain(`${cluster.master.configFile}:${line}`);
    expect(stderr).toContain('MATOCL_LISTEN_PORT');
    expect(plainLines(stderr), 'one plain line for people').toHaveLength(1);
  });

  it('a replication limit list that is not MooseFS 3.0\'s (one or four numbers): the same, naming the key', async () => {
    const { cluster, process } = await startWith({ CHUNKS_WRITE_REP_LIMIT: '2,1,1' });
    const { code, stderr } = await exitOf(process);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`${cluster.master.configFile}:${cluster.master.configLines.CHUNKS_WRITE_REP_LIMIT!}: CHUNKS_WRITE_REP_LIMIT: '2,1,1' is not one limit or four`);
    expect(plainLines(stderr), 'one plain line for people').toHaveLength(1);
  });

  it('a missing DATA_PATH: non-zero exit, stderr names the path', async () => {
    const missing = join('/nonexistent-tsmfs-test', `data-${process.pid}`);
    const { process: p } = await startWith({ DATA_PATH: missing });
    const { code, stderr } = await exitOf(p);
    expect(code).not.toBe(0);
    expect(stderr).toContain(missing);
  });

  it('the client port already in use: non-zero exit, stderr names the port', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const port = (squatter.address() as { port: number }).port;
    try {
      const { process: p } = await startWith({ MATOCL_LISTEN_PORT: port });
      const { code, stderr } = await exitOf(p);
      expect(code).not.toBe(0);
      expect(stderr).toContain(String(port));
    } finally {
      await new Promise((r) => squatter.close(r));
    }
  });

  it('an unknown key: starts, and warns naming the file, line and key', async () => {
    const { cluster, process: p } = await startWith({ NO_SUCH_TSMFS_KEY: 1 });
    await p.waitReady();
    const line = cluster.master.configLines.NO_SUCH_TSMFS_KEY!;
    const warning = p.logs().find((l) => l.level === 40 && JSON.stringify(l).includes('NO_SUCH_TSMFS_KEY'));
    expect(warning, p.output()).toBeDefined();
    expect(JSON.stringify(warning)).toContain(`${cluster.master.configFile}:${line}`);
    const s = await cluster.session();
    await expect(s.statfs()).resolves.toBeDefined();
  });

  it('SIGTERM stops it cleanly with exit code 0', async () => {
    const cluster = await Cluster.create();
    const exit = await cluster.master.kill('SIGTERM');
    expect(exit).toEqual({ code: 0, signal: null });
  });
});

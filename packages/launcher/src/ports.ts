import { createServer } from 'node:net';

/** `n` distinct loopback ports that were free a moment ago (bound to 0 together, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const srv = createServer();
      await new Promise<void>((r, j) => srv.once('error', j).listen(0, '127.0.0.1', r));
      return srv;
    }),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

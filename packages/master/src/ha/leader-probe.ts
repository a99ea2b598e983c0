import { createConnection } from 'node:net';

/** How long a dead leader's port may take to refuse a connection (a live one accepts at once, a stopped one's kernel too). */
export const PROBE_TIMEOUT_MS = 500;

/**
 * True only when a TCP connection to `hostPort` is refused (ECONNREFUSED: nothing
 * listens there). A connection accepted, timed out or failing otherwise proves nothing.
 */
export function portRefuses(hostPort: string, timeoutMs: number): Promise<boolean> {
  const colon = hostPort.lastIndexOf(':');
  const host = hostPort.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(hostPort.slice(colon + 1));
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (refused: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(refused);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(false));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}

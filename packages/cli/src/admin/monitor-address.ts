import { dial } from '@tsmfs/rpc';

/** Listen hosts that mean "every address": the monitor is then reached at the host we dialled. */
const ANY_HOST = new Set(['*', '0.0.0.0', '::']);

/**
 * Where the HTTP monitor of the master whose client port is `host:port` listens, from
 * that port's handshake reply; undefined when `port` is not a tsmfs master's client port
 * (or tells no monitor). This is how `tsmfs-cli -P` takes the client port, as mfscli does
 * (its -P is the master's 9421): the JSON API it reads is on the HTTP port. The reply
 * comes before any AUTH_CODE exchange, so no secret is needed to learn it.
 */
export async function monitorAddress(host: string, port: number, timeoutMs = 3000): Promise<{ host: string; port: number } | undefined> {
  try {
    const { conn, server } = await dial({ host, port, role: 'cli', name: 'tsmfs-cli', connectTimeoutMs: timeoutMs });
    conn.close();
    if (!server.monitor) return undefined;
    return { host: ANY_HOST.has(server.monitor.host) ? host : server.monitor.host, port: server.monitor.port };
  } catch {
    return undefined;
  }
}

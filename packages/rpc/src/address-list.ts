import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Address } from '@tsmfs/protocol';

/** An address list that cannot be used; the message names the bad item. */
export class AddressListError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressListError';
  }
}

/**
 * Master addresses as daemons and mounts take them: `host`, `host:port`, `[v6]:port`,
 * several comma-separated (the masters of an HA group, tried in turn); a bare host
 * takes `defaultPort`.
 */
export function parseAddressList(raw: string, defaultPort: number): Address[] {
  const out: Address[] = [];
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(item) ?? /^([^:\s[\]]+)(?::(\d+))?$/.exec(item);
    if (!m) throw new AddressListError(`'${item}' is not HOST or HOST:PORT`);
    const port = m[2] === undefined ? defaultPort : Number(m[2]);
    if (!(port >= 1 && port <= 65535)) throw new AddressListError(`'${item}' has a port outside 1..65535`);
    out.push({ host: m[1]!, port });
  }
  if (out.length === 0) throw new AddressListError('no address given');
  return out;
}

/**
 * Expands every name of the list into all the addresses it resolves to (in the
 * resolver's order, each with the entry's port; duplicates dropped): one DNS name for the
 * masters of a group is then tried master by master, each getting its own handshake,
 * where a plain connect would stop at the first address that accepts TCP. A name that
 * does not resolve now stays as it is, so the attempt on it reports why. Resolved at
 * each pass over the list, so a changed DNS record is seen at the next reconnection.
 */
export async function resolveAddressList(list: readonly Address[]): Promise<Address[]> {
  const out: Address[] = [];
  const seen = new Set<string>();
  const add = (a: Address): void => {
    const key = `${a.host}|${a.port}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(a);
  };
  const resolved = await Promise.all(
    list.map(async (a) => {
      if (isIP(a.host) !== 0) return [a];
      try {
        const found = await lookup(a.host, { all: true });
        return found.length > 0 ? found.map((f) => ({ host: f.address, port: a.port })) : [a];
      } catch {
        return [a];
      }
    }),
  );
  for (const group of resolved) for (const a of group) add(a);
  return out;
}

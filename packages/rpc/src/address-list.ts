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

import { existsSync, readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { ConfigError, contentLines } from '@tsmfs/daemon';

/**
 * Network topology (MooseFS's mfstopology.cfg): which location — a path of words
 * separated by `|`, e.g. `dc1|rack3` — each address is at. Every set of addresses with
 * one path is a rack. Distances order the copies a client reads from and writes to
 * (closest first), and new copies of a chunk go to racks that hold none yet.
 */
export interface Topology {
  /** The location path of an address; [] when no line covers it. */
  pathOf(address: string): readonly string[];
  /** The rack of an address: its path joined; '' when no line covers it. */
  rackOf(address: string): string;
  /**
   * MooseFS's distance: 0 for the same address, 1 for two addresses with the same path,
   * else 1 + the larger number of path elements left after the common start.
   */
  distance(a: string, b: string): number;
  /** Lines read (0: no topology, every server in one rack). */
  readonly lines: number;
}

interface Line {
  /** IPv4 ranges as [from, to] numbers; an IPv6 address as itself. */
  from: number;
  to: number;
  v6?: string;
  path: string[];
}

/**
 * Parses mfstopology.cfg text: `ADDRESSES LOCATION_PATH` a line, `#` comments. ADDRESSES is
 * `*`, `n.n.n.n`, `n.n.n.n/bits`, `n.n.n.n/m.m.m.m` or `f.f.f.f-t.t.t.t` (inclusive); an
 * IPv6 address stands for itself. When several lines cover an address the last wins.
 */
export function parseTopology(text: string, file: string): Topology {
  const lines: Line[] = [];
  for (const { line, where } of contentLines(text, file)) {
    const [spec, path, extra] = line.split(/\s+/);
    if (!spec || !path || extra !== undefined) throw new ConfigError(`${where}: expected 'ADDRESSES LOCATION_PATH', found '${line}'`);
    const words = path.split('|');
    if (words.some((w) => w === '')) throw new ConfigError(`${where}: '${path}': empty word in the location path`);
    lines.push({ ...parseAddresses(spec, where), path: words });
  }
  return topologyOf(lines);
}

/** Reads the topology file; a missing file is no topology (it is optional, as in MooseFS). */
export function loadTopology(file: string): Topology {
  if (!existsSync(file)) return topologyOf([]);
  return parseTopology(readFileSync(file, 'utf8'), file);
}

function topologyOf(lines: readonly Line[]): Topology {
  const pathOf = (address: string): readonly string[] => {
    const ip = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
    const n = isIPv4(ip) ? ipv4(ip) : undefined;
    for (let i = lines.length - 1; i >= 0; i--) {
      const l = lines[i]!;
      if (l.v6 !== undefined ? l.v6 === ip : n !== undefined && n >= l.from && n <= l.to) return l.path;
    }
    return [];
  };
  return {
    lines: lines.length,
    pathOf,
    rackOf: (address) => pathOf(address).join('|'),
    distance(a, b) {
      if (a === b) return 0;
      const pa = pathOf(a);
      const pb = pathOf(b);
      let common = 0;
      while (common < pa.length && common < pb.length && pa[common] === pb[common]) common++;
      if (common === pa.length && common === pb.length) return 1;
      return 1 + Math.max(pa.length - common, pb.length - common);
    },
  };
}

function parseAddresses(spec: string, where: string): Omit<Line, 'path'> {
  const bad = (): never => {
    throw new ConfigError(`${where}: '${spec}' is not *, n.n.n.n, n.n.n.n/bits, n.n.n.n/m.m.m.m, f.f.f.f-t.t.t.t or an IPv6 address`);
  };
  if (spec === '*') return { from: 0, to: 0xffffffff };
  if (!spec.includes('/') && !spec.includes('-') && spec.includes(':')) return { from: 1, to: 0, v6: spec };
  const dash = spec.indexOf('-');
  if (dash > 0) {
    const [a, b] = [spec.slice(0, dash), spec.slice(dash + 1)];
    if (!isIPv4(a) || !isIPv4(b) || ipv4(a) > ipv4(b)) bad();
    return { from: ipv4(a), to: ipv4(b) };
  }
  const slash = spec.indexOf('/');
  if (slash < 0) return isIPv4(spec) ? { from: ipv4(spec), to: ipv4(spec) } : bad();
  const [net, m] = [spec.slice(0, slash), spec.slice(slash + 1)];
  if (!isIPv4(net)) bad();
  let mask: number;
  if (/^\d{1,2}$/.test(m) && Number(m) <= 32) mask = Number(m) === 0 ? 0 : (0xffffffff << (32 - Number(m))) >>> 0;
  else if (isIPv4(m)) mask = ipv4(m);
  else return bad();
  const from = (ipv4(net) & mask) >>> 0;
  return { from, to: (from | (~mask >>> 0)) >>> 0 };
}

function ipv4(a: string): number {
  return a.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

/** What closestFirst orders: a grant's copies. */
interface Located {
  host: string;
  distance?: number;
}

/**
 * A grant's copies, closest to the client at `client` first (ties in random order, so
 * that the clients of one rack share its servers); each carries its distance, so that a
 * client reads from one of the closest. Without a topology the order is left as it is.
 */
export function closestFirst<L extends Located>(topology: Topology, locations: readonly L[], client: string, random: () => number = Math.random): L[] {
  if (topology.lines === 0 || locations.length === 0) return [...locations];
  const keyed = locations.map((l) => ({ l: { ...l, distance: topology.distance(client, l.host) }, tie: random() }));
  keyed.sort((a, b) => a.l.distance - b.l.distance || a.tie - b.tie);
  return keyed.map((k) => k.l);
}

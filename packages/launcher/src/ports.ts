import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Lowest port handed out: above the well-known and registered services a machine runs. */
const LOW = 10_000;
/** Attempts per port asked for before giving up (each a bind on loopback). */
const TRIES_PER_PORT = 200;

/**
 * The first port of the kernel's ephemeral range. Ports are handed out below it: every
 * outgoing connection takes its local port from that range, so a port found free there
 * (the old way: bind port 0, close) could be taken by any test's connect before our
 * daemon bound it — "address already in use" at start-up, seen in CI under load.
 */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > LOW + 1000) return first;
  } catch {
    // Not Linux, or no /proc: the kernel's default.
  }
  return 32_768;
}

const HIGH = ephemeralStart();
/** Ports this process handed out already: never twice (a daemon stopped a moment ago may linger in TIME_WAIT). */
const handedOut = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * `n` distinct loopback ports that were free a moment ago, drawn at random between 10000
 * and the ephemeral range (other processes' draws rarely meet, and no connect takes them).
 */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let tries = 0; out.length < n; tries++) {
    if (tries >= n * TRIES_PER_PORT) throw new Error(`no ${n} free ports between ${LOW} and ${HIGH}`);
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port) || out.includes(port) || !(await canBind(port))) continue;
    out.push(port);
  }
  if (handedOut.size > 10_000) handedOut.clear();
  for (const p of out) handedOut.add(p);
  return out;
}

/**
 * The first port of a block of `span` consecutive ports drawn at random where freePorts
 * draws (below the ephemeral range), for a program that lays its ports out itself from a
 * base (`npm start --base-port`). Not checked port by port: the program reports a taken one.
 */
export function randomPortBase(span: number): number {
  return LOW + Math.floor(Math.random() * (HIGH - LOW - span));
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

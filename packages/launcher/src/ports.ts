import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';

/** Lowest port handed out: above the well-known and registered services a machine runs. */
const LOW = 10_000;
/** Attempts per port asked for before giving up (each a bind on loopback). */
const TRIES_PER_PORT = 200;
/** Claims held at once by one process (one descriptor each); past it the oldest are let go. */
const MAX_CLAIMS = 4_000;

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

/**
 * Ports this process handed out, each with its claim: a listening socket in Linux's
 * abstract namespace named after the port. A port is free a moment before the daemon it
 * is for binds it, and another process drawing at random in that moment could hand it
 * out too: two test files side by side (or two runs of the suite) did, and a master
 * stopped with "address already in use" (CI, 2026-12-03). Every process that draws here
 * claims first, so no two hand out the same port while both live; the kernel drops a
 * claim when its process ends, however it ends. Never handed out twice by one process
 * either: a daemon stopped a moment ago may linger in TIME_WAIT.
 */
const claims = new Map<number, Server | undefined>();

/** Takes the cross-process claim on `port`; undefined where another process holds it. */
function claim(port: number): Promise<Server | undefined | false> {
  if (process.platform !== 'linux') return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(`\0tsmfs-port-${port}`, () => resolve(srv.unref()));
  });
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Claims `port` and checks it is free; false (and nothing held) otherwise. */
async function take(port: number): Promise<boolean> {
  if (claims.has(port)) return false;
  const held = await claim(port);
  if (held === false) return false;
  if (!(await canBind(port))) {
    held?.close();
    return false;
  }
  claims.set(port, held);
  return true;
}

function letOldestGo(): void {
  for (const [port, srv] of claims) {
    if (claims.size <= MAX_CLAIMS) return;
    srv?.close();
    claims.delete(port);
  }
}

/**
 * `n` distinct loopback ports that were free a moment ago and that no other process
 * using this module hands out while this one lives, drawn at random between 10000 and
 * the ephemeral range (no connect takes them).
 */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let tries = 0; out.length < n; tries++) {
    if (tries >= n * TRIES_PER_PORT) throw new Error(`no ${n} free ports between ${LOW} and ${HIGH}`);
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await take(port)) out.push(port);
  }
  letOldestGo();
  return out;
}

/**
 * The first port of a block of `span` consecutive free ports drawn where freePorts draws,
 * each claimed as freePorts claims, for a program that lays its ports out itself from a
 * base (`npm start --base-port`).
 */
export async function freePortBlock(span: number): Promise<number> {
  for (let tries = 0; tries < TRIES_PER_PORT; tries++) {
    const base = LOW + Math.floor(Math.random() * (HIGH - LOW - span));
    const taken: number[] = [];
    for (let p = base; p < base + span && (await take(p)); p++) taken.push(p);
    if (taken.length === span) {
      letOldestGo();
      return base;
    }
    for (const p of taken) {
      claims.get(p)?.close();
      claims.delete(p);
    }
  }
  throw new Error(`no ${span} consecutive free ports between ${LOW} and ${HIGH}`);
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

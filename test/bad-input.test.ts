/**
 * Hostile and broken peers on the master's client port: each must cost that peer its
 * own connection and nothing else. A session opened before them and one opened after
 * must both keep working.
 */
import { randomBytes } from 'node:crypto';
import { type Socket, connect } from 'node:net';
import {
  FrameDecoder,
  MAX_CONTROL_BODY,
  Messages,
  PROTOCOL_VERSION,
  Status,
  decodeFrame,
  encodeFrameHeader,
  encodeRequest,
} from '@tsmfs/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';
import type { MasterSession } from '@tsmfs/client';

const CLOSE_TIMEOUT_MS = 15_000;

let cluster: Cluster;
let before: MasterSession;
const sockets: Socket[] = [];

beforeEach(async () => {
  cluster = await Cluster.create();
  before = await cluster.session();
  await before.mkdir(before.root, 'before');
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

/** A raw TCP link to the client port, collecting what the master sends back. */
async function raw(): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port: cluster.master.ports.matocl });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const chunks: Buffer[] = [];
  socket.on('data', (c) => chunks.push(c));
  socket.on('error', () => {}); // a reset is one of the expected outcomes
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);
}

/** The master still serves: the old session and a new one both see and change the namespace. */
async function stillServing(label: string): Promise<void> {
  await expect(before.lookup(before.root, 'before')).resolves.toMatchObject({ type: 'dir' });
  const after = await cluster.session();
  await after.mkdir(after.root, label);
  await expect(before.lookup(before.root, label)).resolves.toMatchObject({ type: 'dir' });
  after.close();
  expect(cluster.master.process?.running).toBe(true);
}

describe('bad input on the client port', () => {
  it('random garbage: each connection is closed, the master keeps serving', async () => {
    const links = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const link = await raw();
        const garbage = randomBytes(64 * 1024);
        // Half of them with a small length field so the body is read and fails to decode,
        // rather than being refused for its size.
        if (i % 2 === 0) garbage.writeUInt32BE(100 + i, 4);
        link.socket.write(garbage);
        return link;
      }),
    );
    await within(Promise.all(links.map((l) => l.closed)), CLOSE_TIMEOUT_MS, 'garbage links closed');
    await stillServing('after-garbage');
  });

  it('a handshake with a wrong protocol version gets an error naming the version, then a close', async () => {
    const link = await raw();
    const wrong = PROTOCOL_VERSION + 41;
    link.socket.write(encodeRequest('handshake', 0, { role: 'client', version: wrong, name: 'from-the-future' }));
    await within(link.closed, CLOSE_TIMEOUT_MS, 'close after refused handshake');
    const frames = new FrameDecoder(MAX_CONTROL_BODY).push(link.received());
    expect(frames).toHaveLength(1);
    const reply = decodeFrame(frames[0]!);
    expect(reply).toMatchObject({ kind: 'reply', name: 'handshake', status: Status.EPROTO });
    expect(reply.kind === 'reply' && reply.message).toContain(String(wrong));
    await stillServing('after-version');
  });

  it('a frame header claiming a 4 GiB body is disconnected, before and after the handshake', async () => {
    const first = await raw();
    first.socket.write(encodeFrameHeader(Messages.handshake.id, 0xffff_ffff, 1));
    await within(first.closed, CLOSE_TIMEOUT_MS, 'close on oversized handshake frame');

    const second = await raw();
    second.socket.write(encodeRequest('handshake', 1, { role: 'client', version: PROTOCOL_VERSION, name: 'liar' }));
    await within(
      new Promise<void>((resolve) => second.socket.on('data', () => second.received().length >= 12 && resolve())),
      CLOSE_TIMEOUT_MS,
      'handshake reply',
    );
    second.socket.write(encodeFrameHeader(Messages.lookup.id, 0xffff_ffff, 2));
    await within(second.closed, CLOSE_TIMEOUT_MS, 'close on oversized frame after handshake');
    await stillServing('after-oversized');
  });

  it('half a frame, then close: nothing breaks', async () => {
    const frame = encodeRequest('handshake', 1, { role: 'client', version: PROTOCOL_VERSION, name: 'half' });
    const link = await raw();
    link.socket.end(frame.subarray(0, Math.floor(frame.length / 2)));
    await within(link.closed, CLOSE_TIMEOUT_MS, 'half-frame link closed');

    const headerOnly = await raw();
    headerOnly.socket.end(frame.subarray(0, 6));
    await within(headerOnly.closed, CLOSE_TIMEOUT_MS, 'half-header link closed');
    await stillServing('after-half');
  });

  it('a peer that sends requests before the handshake is closed', async () => {
    const link = await raw();
    link.socket.write(encodeRequest('statfs', 1, {}));
    await within(link.closed, CLOSE_TIMEOUT_MS, 'close on request before handshake');
    expect(link.received().length).toBe(0);
    await stillServing('after-no-handshake');
  });
});

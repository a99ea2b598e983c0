import { type AddressInfo, createServer, type Socket } from 'node:net';
import { FrameDecoder, MAX_CONTROL_BODY, PROTOCOL_VERSION, decodeFrame, encodeReply, encodeRequest } from '@tsmfs/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { dial } from './dial.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

describe('dial', () => {
  it('passes on what the peer sent in the same packet right behind its handshake reply', async () => {
    // A raw server: the handshake reply and a ping request in one write, so they reach
    // the client in one chunk (the handshake's reader once dropped the second frame).
    const answered = new Promise<number>((resolve) => {
      const server = createServer((socket: Socket) => {
        const decoder = new FrameDecoder(MAX_CONTROL_BODY);
        let shook = false;
        socket.on('data', (chunk) => {
          for (const frame of decoder.push(chunk)) {
            if (!shook) {
              shook = true;
              const reply = encodeReply('handshake', frame.requestId, { role: 'master', version: PROTOCOL_VERSION, epoch: 1, nonce: Buffer.alloc(32) });
              socket.write(Buffer.concat([reply, encodeRequest('ping', 77, {})]));
            } else if (decodeFrame(frame).kind === 'reply') resolve(frame.requestId);
          }
        });
      });
      server.listen(0, '127.0.0.1');
      cleanup.push(() => server.close());
      server.once('listening', () => {
        const { port } = server.address() as AddressInfo;
        dial({ host: '127.0.0.1', port, role: 'client', name: 't' }).then(({ conn }) => {
          cleanup.push(() => conn.close());
          conn.serve(() => ({}));
        });
      });
    });
    expect(await answered).toBe(77);
  });
});

import { type Request, type SessionMessage } from '@tsmfs/protocol';
import { pino } from 'pino';
import { onTestFinished } from 'vitest';
import { parseExports } from '../exports.js';
import { applyMutation } from '../metadata/apply.js';
import { createEmptyMetadata } from '../metadata/metadata.js';
import type { Mutation } from '../metadata/mutation.js';
import { Namespace } from '../metadata/namespace.js';
import { type Session, Sessions } from '../sessions.js';
import { ClientRequests } from './client-requests.js';

export const root = { uid: 0, gid: 0, groups: [0] };
export const nonce = new Uint8Array(32).fill(1);
export const T0 = { sec: 1_700_000_000, nsec: 0 };

/**
 * A master's client request path without its sockets: a namespace whose entries are kept
 * (`mutations`), sessions under an open export, and the requests served as the client
 * port serves them. `replayed` rebuilds what a follower or a restarted master would.
 */
export function servingSetup() {
  const mutations: Mutation[] = [];
  let t = T0.sec;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(T0), (m) => void mutations.push(m), clock);
  const rules = parseExports('* / rw,maproot=0', 'exports.cfg').rules;
  const sessions = new Sessions({ rules: () => rules, namespace: () => ns, sustainMs: 60_000, log: pino({ level: 'silent' }) });
  // Its orphan sweeper would otherwise run on in the worker's next test files.
  onTestFinished(() => sessions.clear());
  const requests = new ClientRequests({ sessions, namespace: () => ns });
  const register = (sessionId?: number, address = '127.0.0.1'): Session =>
    sessions.register({ subdir: '/', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt', sessionId }, { address, nonce, link: {} });
  const serve = async <N extends SessionMessage>(s: Session, name: N, body: Request<N>) => requests.serve(s, name, body);
  const replayed = () => {
    const md = createEmptyMetadata(T0);
    for (const m of mutations) applyMutation(md, JSON.parse(JSON.stringify(m)) as Mutation);
    return md;
  };
  return { ns, sessions, requests, serve, register, mutations, replayed };
}

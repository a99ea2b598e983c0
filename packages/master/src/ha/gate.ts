import type { TsmfsError } from '@tsmfs/protocol';
import { notLeader } from '@tsmfs/rpc';

export type HaRole = 'leader' | 'follower' | 'alone';

/** Where peers reach the leader, as it publishes them in etcd ("host:port" each). */
export interface LeaderAddresses {
  client: string;
  cs: string;
  ml: string;
  http: string;
}

export type Port = keyof LeaderAddresses;

/**
 * What the master's links ask of the HA group before they serve (docs/ha.md): the role,
 * the epoch their handshakes and commands carry, and whether a mutation may be admitted.
 * A lone master (no HA_ETCD_ENDPOINTS) is `alone`: it always may, at epoch 1, as before HA.
 */
export interface HaGate {
  readonly role: HaRole;
  /** The epoch of this master's leadership, or of the leader it last saw (0: none yet). */
  readonly epoch: number;
  /** The leader as published in etcd, this master included; undefined while there is none. */
  readonly leader: LeaderAddresses | undefined;
  /** True while a mutation may be admitted: leader, and its lease confirmed with the safety margin. */
  mayMutate(): boolean;
  /**
   * Waits while a leader's lease is unconfirmed (etcd unreachable) for at most `maxWaitMs`:
   * resolves as soon as mutations may be admitted, rejects with `refusal` otherwise.
   */
  admitMutation(port: Port): Promise<void>;
  /** The EREMCHG a refused request gets, naming the leader's address for that port when known. */
  refusal(port: Port): TsmfsError;
  /**
   * Resolves once the synchronous set has `version` (HA_SYNC_STANDBYS > 0, docs/ha.md);
   * rejects with LeadershipLost if this master stops leading first. Absent: nothing to wait for.
   */
  replicated?(version: number): Promise<void>;
}

/**
 * A change was applied here, but this master stopped leading before its synchronous
 * standbys confirmed it: whether the group keeps it is unknown. The request is not
 * answered (its link is closed), so the client treats its outcome as unknown, as after a
 * crash — never as refused (it may be in the new leader's history) nor as done.
 */
export class LeadershipLost extends Error {}

/** A master without HA: what every link did before the group existed. */
export const ALONE: HaGate = {
  role: 'alone',
  epoch: 1,
  leader: undefined,
  mayMutate: () => true,
  admitMutation: async () => undefined,
  refusal: () => notLeader('this master runs alone'),
};

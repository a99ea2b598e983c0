import { type Address, Status, TsmfsError } from '@tsmfs/protocol';
import { parseAddressList } from './address-list.js';

/**
 * The refusal of a master that is not the leader of its HA group (docs/ha.md): status
 * EREMCHG, and the leader's address for this port at the end of the message when the
 * master knows it (`…; leader=HOST:PORT`), so that clients, chunkservers and
 * metaloggers go there instead of trying every master in turn.
 */
export function notLeader(why: string, leader?: string): TsmfsError {
  return new TsmfsError(Status.EREMCHG, leader === undefined ? why : `${why}; leader=${leader}`);
}

export function isNotLeader(err: unknown): err is TsmfsError {
  return err instanceof TsmfsError && err.status === Status.EREMCHG;
}

/** The leader named by a notLeader refusal, if it names one. */
export function leaderHint(err: unknown): Address | undefined {
  if (!isNotLeader(err)) return undefined;
  const m = /; leader=(\S+)$/.exec(err.message);
  if (!m) return undefined;
  try {
    // Port 0 as the default: a hint without a port is not one.
    return parseAddressList(m[1]!, 0)[0];
  } catch {
    return undefined;
  }
}

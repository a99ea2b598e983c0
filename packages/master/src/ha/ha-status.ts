import type { Election, HaStatus } from './election.js';
import type { LeaderAddresses } from './gate.js';
import type { SyncStandbys, SyncStatus } from './sync-standbys.js';

/** GET /api/status: this master's place in its HA group, on every master's HTTP port (docs/ha.md). */
export interface GroupStatus extends Omit<HaStatus, 'role' | 'cluster'> {
  role: 'leader' | 'follower' | 'alone';
  cluster: string | null;
  metadataVersion: number;
  /** A follower's replay of the leader's changelog: the version applied here, the leader's, and the difference. Null when leading or alone. */
  follower: { appliedVersion: number; leaderVersion: number; lag: number } | null;
  /**
   * The leader's synchronous standbys (HA_SYNC_STANDBYS > 0): the set etcd holds and each
   * shadow master's acked version. Null on a follower, alone, or with HA_SYNC_STANDBYS = 0.
   */
  sync: SyncStatus | null;
  /**
   * A new leader's grace period (docs/ha.md, "Write leases across a takeover"): the former
   * leader's sessions not back yet and how long it may still last. Null when none runs.
   */
  grace: { waitingFor: number; remainingMs: number } | null;
  /** This master's own addresses, as it would publish them leading. */
  self: LeaderAddresses;
}

export function groupStatus(
  election: Election | undefined,
  self: LeaderAddresses,
  metadataVersion: number,
  follower: GroupStatus['follower'],
  standbys?: SyncStandbys,
  grace: GroupStatus['grace'] = null,
): GroupStatus {
  if (!election) return { role: 'alone', cluster: null, epoch: 1, leader: self, mutable: true, leaseTtlMs: 0, failovers: 0, metadataVersion, follower: null, sync: null, grace: null, self };
  const status = election.status();
  const leading = status.role === 'leader';
  return { ...status, metadataVersion, follower, sync: leading ? (standbys?.status() ?? null) : null, grace: leading ? grace : null, self };
}

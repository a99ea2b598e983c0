import { type ConfigValues, key } from './config.js';

/** What a listening port caps (the shape of @tsmfs/rpc's ConnectionLimits and FlowLimits). */
export interface LinkLimitValues {
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxUnauthenticated: number;
  handshakeTimeoutMs: number;
  maxInFlight: number;
}

/**
 * The configuration keys of the limits every listening port of a daemon applies
 * (docs/security.md, "Limits"), with the daemon's defaults. `ports` names the ports for
 * the doc lines. MooseFS has no such keys; the names say what they cap.
 */
export function linkLimitKeys(defaults: LinkLimitValues, ports: string) {
  return {
    MAX_CONNECTIONS: key('int', defaults.maxConnections, `connections open at once on each of ${ports}; more are refused (logged)`, { min: 1, max: 1_000_000 }),
    MAX_CONNECTIONS_PER_IP: key('int', defaults.maxConnectionsPerIp, `connections open at once from one address on each of ${ports}`, { min: 1, max: 1_000_000 }),
    MAX_UNAUTHENTICATED_CONNECTIONS: key('int', defaults.maxUnauthenticated, `connections that have not completed their handshake yet, on each of ${ports}`, { min: 1, max: 1_000_000 }),
    HANDSHAKE_TIMEOUT: key('int', defaults.handshakeTimeoutMs / 1000, 'seconds a new connection has to complete its handshake (its first frame may be at most 4 KiB)', { min: 1, max: 600 }),
    MAX_REQUESTS_IN_FLIGHT: key('int', defaults.maxInFlight, 'requests of one connection served at once; beyond it (or with 1 MiB of replies unread) its socket is not read until it catches up', { min: 1, max: 65_536 }),
  };
}

type LinkLimitSchema = ReturnType<typeof linkLimitKeys>;

/** The configured limits, for RpcServer. */
export function linkLimits(config: ConfigValues<LinkLimitSchema>): LinkLimitValues {
  return {
    maxConnections: config.MAX_CONNECTIONS,
    maxConnectionsPerIp: config.MAX_CONNECTIONS_PER_IP,
    maxUnauthenticated: config.MAX_UNAUTHENTICATED_CONNECTIONS,
    handshakeTimeoutMs: config.HANDSHAKE_TIMEOUT * 1000,
    maxInFlight: config.MAX_REQUESTS_IN_FLIGHT,
  };
}

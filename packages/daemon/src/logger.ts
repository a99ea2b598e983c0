import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured logs to stderr, one JSON line each, every line naming its daemon and
 * component. LOG_LEVEL in the environment overrides the level (tests quieten daemons).
 */
export function createLogger(daemon: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: daemon, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

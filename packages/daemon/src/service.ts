import type { Logger } from 'pino';

/**
 * The lifecycle every daemon part implements (listener, loop, scheduler): nothing
 * starts in a constructor; start and stop are explicit, so start-up is an ordered list
 * and shutdown the same list reversed.
 */
export interface Service {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts services in order; if one fails, stops those already started, then rethrows. */
export async function startAll(services: readonly Service[], log: Logger): Promise<void> {
  const started: Service[] = [];
  for (const s of services) {
    try {
      await s.start();
    } catch (err) {
      log.error({ service: s.name, err: (err as Error).message }, 'start-up failed');
      await stopAll(started, log);
      throw err;
    }
    started.push(s);
    log.debug({ service: s.name }, 'started');
  }
}

/** Stops services in reverse order; one failing to stop does not keep the others running. */
export async function stopAll(services: readonly Service[], log: Logger): Promise<void> {
  for (const s of [...services].reverse()) {
    try {
      await s.stop();
    } catch (err) {
      log.error({ service: s.name, err: (err as Error).message }, 'stop failed');
    }
  }
}

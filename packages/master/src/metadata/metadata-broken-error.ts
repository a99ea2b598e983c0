import type { Mutation } from './mutation.js';

/**
 * A mutation that validation let through but apply could not carry out: a bug. The
 * in-memory state may be half changed, so the master must stop serving; the entry was
 * not logged, so a restart replays to the state before it.
 */
export class MetadataBrokenError extends Error {
  constructor(
    readonly mutation: Mutation,
    cause: unknown,
  ) {
    super(`applying ${mutation.op} failed, metadata in memory may be inconsistent: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'MetadataBrokenError';
  }
}

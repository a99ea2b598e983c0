import { constants } from 'node:os';

export const EIO = constants.errno.EIO;
export const ENOSYS = constants.errno.ENOSYS;
export const ERANGE = constants.errno.ERANGE;
export const ENOTCONN = constants.errno.ENOTCONN;
export const EINTR = constants.errno.EINTR;

/**
 * The errno a thrown error asks for: `.status` (TsmfsError from @tsmfs/protocol) or
 * `.errno` (positive; Node's system errors carry it negated, which is accepted too).
 * undefined means the error is a bug, not an answer.
 */
export function errnoOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { status, errno } = err as { status?: unknown; errno?: unknown };
  if (typeof status === 'number' && Number.isInteger(status) && status > 0) return status;
  if (typeof errno === 'number' && Number.isInteger(errno) && errno !== 0) return Math.abs(errno);
  return undefined;
}

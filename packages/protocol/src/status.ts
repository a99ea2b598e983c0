/**
 * Status codes on the wire are Linux errno numbers, so that a reply's status is the
 * exact errno the mount returns: no translation table can drift out of step.
 * 0 is success.
 */
export const Status = {
  OK: 0,
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  ENOTSUP: 95,
  EPROTO: 71,
  EBADMSG: 74,
  EOVERFLOW: 75,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  ESTALE: 116,
  EDQUOT: 122,
  /**
   * A master of an HA group that may not serve this now: a follower, or a leader whose
   * etcd lease is not confirmed. The message may name the leader (rpc's leader-hint.ts);
   * nothing was applied, so the client sends the request again there.
   */
  EREMCHG: 78,
  /** A chunk grant token that ran out (grant-token.ts): the client asks the master again. */
  EKEYEXPIRED: 127,
  /** A chunk grant token missing, forged, or for another chunk, version or mode. */
  EKEYREJECTED: 129,
} as const;

export type StatusName = keyof typeof Status;
export type StatusCode = (typeof Status)[StatusName];

const NAMES = new Map<number, StatusName>(
  (Object.entries(Status) as [StatusName, number][]).map(([name, code]) => [code, name]),
);

/** The errno name of a status code ("ENOENT"), or "E<number>" for one we do not name. */
export function statusName(code: number): string {
  return NAMES.get(code) ?? `E${code}`;
}

/**
 * Statuses that are a file system's ordinary answers (a name that does not exist, an
 * attribute not set, a permission refused…), made without a stack trace.
 */
const ANSWERS: ReadonlySet<number> = new Set([
  Status.ENOENT,
  Status.ENODATA,
  Status.EEXIST,
  Status.EACCES,
  Status.EPERM,
  Status.ENOTEMPTY,
  Status.ENOTDIR,
  Status.EISDIR,
  Status.EAGAIN,
]);

/**
 * Every error that crosses a component boundary carries the errno it maps to, so
 * that a FUSE handler can return it without guessing.
 */
export class TsmfsError extends Error {
  readonly status: number;
  constructor(status: number, message?: string, options?: ErrorOptions) {
    // An answer is not a fault: its stack would say nothing, and capturing one cost ~37 µs
    // of the mount's ~265 µs per 4 KiB random write (the kernel's getxattr of
    // security.capability before each write, answered ENODATA; docs/benchmarks.md).
    const limit = Error.stackTraceLimit;
    if (ANSWERS.has(status)) Error.stackTraceLimit = 0;
    try {
      super(message ?? statusName(status), options);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.status = status;
    this.name = 'TsmfsError';
  }
  get code(): string {
    return statusName(this.status);
  }
}

/** Shorthand used by the namespace: `throw fail('ENOENT')`. */
export function fail(name: StatusName, message?: string): TsmfsError {
  return new TsmfsError(Status[name], message);
}

export function isTsmfsError(err: unknown, name?: StatusName): err is TsmfsError {
  return err instanceof TsmfsError && (name === undefined || err.status === Status[name]);
}

/**
 * A data-path failure as an application sees it once every retry is spent: EIO, with
 * the chunkserver's own status (ESTALE, EKEYREJECTED, a dead link…) kept as the cause.
 * Those statuses are the client's reasons to retry, not errno values write(2) or read(2)
 * may return.
 */
export function ioFailure(err: unknown): TsmfsError {
  const message = err instanceof Error ? err.message : String(err);
  return new TsmfsError(Status.EIO, message, { cause: err });
}

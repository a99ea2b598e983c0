/**
 * What differs between the launcher's users and is the same for every process one of them
 * starts: tests log at info (their assertions read "ready" and warnings) and keep a long
 * tail; `npm start` writes logs to files. Set once, before starting anything.
 */
export const settings = {
  /** LOG_LEVEL given to every daemon and mount. */
  logLevel: 'info',
  /** Characters of a process's output kept in memory (for failures and log assertions). */
  outputKeep: 8 * 1024 * 1024,
  /** Longest wait for a daemon's "ready" / a chunkserver's registration / a mount. */
  readyTimeoutMs: 20_000,
  /** A SIGTERM not obeyed within this is followed by SIGKILL. */
  stopTimeoutMs: 15_000,
  /** Node flags for every tsmfs process started (e.g. --cpu-prof for a benchmark). */
  nodeFlags: [] as string[],
};

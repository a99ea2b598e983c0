/**
 * Polls `probe` until it returns a value, for things a cluster does in its own time
 * (replication, heartbeats, an election). Bounded: fails naming what it waited for.
 * The one polling helper of the tests, the benchmarks and the launcher.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Polls `probe` until `ok` holds for its answer, and returns that answer; a timeout's
 * error shows the last answer (what the cluster had got to), for the checks whose probe
 * always has one (a file's copies, a count).
 */
export async function untilValue<T>(what: string, probe: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 30_000, intervalMs = 250): Promise<T> {
  let last: { v: T } | undefined;
  const answer = async (): Promise<T | undefined> => {
    last = { v: await probe() };
    return ok(last.v) ? last.v : undefined;
  };
  return until(what, answer, timeoutMs, intervalMs).catch((err: Error) => {
    throw last && err.message.startsWith('timed out') ? new Error(`${err.message}; last: ${JSON.stringify(last.v)}`) : err;
  });
}

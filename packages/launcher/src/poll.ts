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

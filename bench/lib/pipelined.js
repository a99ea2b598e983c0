// Requests kept in flight: the benchmarks' load against a master from one client.

/**
 * Runs fn(0 … count-1) with at most `window` calls in flight (`window` workers, each
 * awaiting its call before taking the next index); resolves with the seconds taken.
 * `onProgress(done, seconds)`, when given, is told at most every 5 s.
 */
export async function pipelined(count, window, fn, onProgress) {
  const t0 = performance.now();
  let next = 0;
  let done = 0;
  let lastReport = t0;
  const worker = async () => {
    while (next < count) {
      await fn(next++);
      done++;
      const now = performance.now();
      if (onProgress && now - lastReport > 5000) {
        lastReport = now;
        onProgress(done, (now - t0) / 1000);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  return (performance.now() - t0) / 1000;
}

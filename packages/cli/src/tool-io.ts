import { SingleBar } from 'cli-progress';
import { EXIT, type ExitCode, describeError, exitCodeOf } from './exit-codes.js';
import { type NumberFormat, type NumberKind, formatNumber } from './number-format.js';

/** Where a tool writes, and how. Tests pass arrays; the binary passes the process's streams. */
export interface ToolIo {
  out: (line: string) => void;
  err: (line: string) => void;
  format: NumberFormat;
  /** Show progress bars (stderr is a terminal). */
  progress: boolean;
}

export function processIo(format: NumberFormat): ToolIo {
  return {
    out: (l) => void process.stdout.write(`${l}\n`),
    err: (l) => void process.stderr.write(`${l}\n`),
    format,
    progress: process.stderr.isTTY === true,
  };
}

/**
 * A labelled number: `prefix` as the tool prints it (its spaces are the column), then the
 * number in the tool's format and its column (number-format.ts: a count by default).
 */
export function row(io: ToolIo, prefix: string, n: number, kind: NumberKind = {}): string {
  return `${prefix}${formatNumber(n, io.format, kind)}`;
}

/**
 * Runs `each` on every PATH in turn; a failure is reported as `PATH: reason` and the
 * next PATH is still done. Returns the exit code (docs/cli.md): the most specific one
 * met (not in a mount / master unreachable) over a plain failure. A progress bar counts
 * the PATHs on a terminal when there are several or the run is recursive.
 */
export async function forEachPath(io: ToolIo, paths: readonly string[], each: (path: string) => Promise<void>, recursive = false): Promise<ExitCode> {
  const bar = io.progress && (paths.length > 1 || recursive) ? new SingleBar({ format: ' {bar} {value}/{total} paths  {path}', stream: process.stderr, clearOnComplete: true, hideCursor: true }) : undefined;
  bar?.start(paths.length, 0, { path: '' });
  // While the bar is drawn, a printed line first clears it; the bar is redrawn at its next update.
  const { out, err } = io;
  if (bar) {
    io.out = (l) => (process.stderr.write('\r\x1b[2K'), out(l));
    io.err = (l) => (process.stderr.write('\r\x1b[2K'), err(l));
  }
  try {
    return await eachPath(io, paths, each, bar);
  } finally {
    bar?.stop();
    io.out = out;
    io.err = err;
  }
}

async function eachPath(io: ToolIo, paths: readonly string[], each: (path: string) => Promise<void>, bar: SingleBar | undefined): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  for (const path of paths) {
    bar?.update({ path });
    try {
      await each(path);
    } catch (e) {
      io.err(`${path}: ${describeError(e)}`);
      const c = exitCodeOf(e);
      if (code === EXIT.ok || c > code) code = c;
    }
    bar?.increment();
  }
  return code;
}

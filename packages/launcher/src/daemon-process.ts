import { type ChildProcess, spawn } from 'node:child_process';
import { type WriteStream, createWriteStream, readFileSync } from 'node:fs';
import { REPO_ROOT } from './paths.js';
import { live } from './live.js';
import { settings } from './settings.js';

export interface LogLine {
  level: number;
  msg?: string;
  [key: string]: unknown;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** The program; default: this Node running the script in `args` with settings.nodeFlags and the script's own (shebangFlags). */
  command?: string;
  env?: NodeJS.ProcessEnv;
  /** Also append everything it writes to this file (`npm start` keeps logs there). */
  logFile?: string;
}

const SHEBANG_FLAGS = /^#!\/usr\/bin\/env -S node (.+)$/;

/**
 * The Node flags the script among `args` (the first that is not a flag) names in its
 * shebang (`#!/usr/bin/env -S node FLAGS`): a daemon started here runs as it does when
 * executed itself (the master's V8 heap settings: packages/master/bin/tsmfs-master.js).
 */
function shebangFlags(args: readonly string[]): string[] {
  const script = args.find((a) => !a.startsWith('-'));
  if (script === undefined) return [];
  let first: string;
  try {
    first = readFileSync(script, 'utf8').slice(0, 200).split('\n')[0]!;
  } catch {
    return [];
  }
  return SHEBANG_FLAGS.exec(first)?.[1]!.split(' ').filter(Boolean) ?? [];
}

/**
 * One process started by the launcher: its output kept (and read, so a daemon that logs
 * never blocks on a full pipe), its exit observed, registered in `live` until it exits so
 * that whoever started it can always stop it by pid.
 */
export class DaemonProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private text = '';
  private exitInfo: ExitInfo | undefined;
  private readonly listeners = new Set<() => void>();
  private readonly log: WriteStream | undefined;

  constructor(
    readonly label: string,
    args: string[],
    options: SpawnOptions = {},
  ) {
    const command = options.command ?? process.execPath;
    const argv = options.command ? args : [...settings.nodeFlags, ...shebangFlags(args), ...args];
    this.child = spawn(command, argv, {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: settings.logLevel, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (this.child.pid === undefined) throw new Error(`${label}: spawn of ${command} ${argv.join(' ')} failed`);
    this.pid = this.child.pid;
    live.processes.add(this);
    this.log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
    const collect = (b: Buffer): void => {
      this.log?.write(b);
      this.text += b.toString();
      if (this.text.length > settings.outputKeep) this.text = this.text.slice(-settings.outputKeep / 2);
      for (const l of this.listeners) l();
    };
    this.child.stderr!.on('data', collect);
    this.child.stdout!.on('data', collect);
    this.exited = new Promise((r) =>
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.processes.delete(this);
        this.log?.end();
        for (const l of this.listeners) l();
        r(this.exitInfo);
      }),
    );
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Everything it wrote so far (stderr and stdout interleaved, the tail when long). */
  output(): string {
    return this.text;
  }

  /** Its pino JSON log lines (other lines skipped). */
  logs(): LogLine[] {
    const out: LogLine[] = [];
    for (const line of this.text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as LogLine);
      } catch {
        // a line cut by the tail limit
      }
    }
    return out;
  }

  /** Resolves with the first log line matching; rejects on timeout or if the process exits first. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs: number, what = 'log line'): Promise<LogLine> {
    return this.waitFor(() => this.logs().find(match), timeoutMs, what);
  }

  /** Resolves once its output contains `pattern` (for programs that do not log JSON). */
  async waitForText(pattern: string | RegExp, timeoutMs: number): Promise<void> {
    const seen = (): true | undefined => ((typeof pattern === 'string' ? this.text.includes(pattern) : pattern.test(this.text)) ? true : undefined);
    await this.waitFor(seen, timeoutMs, String(pattern));
  }

  /** A tsmfs daemon's "ready" line: it serves. */
  async waitReady(timeoutMs = settings.readyTimeoutMs): Promise<void> {
    await this.waitForLog((l) => l.msg === 'ready', timeoutMs, '"ready"');
  }

  /** Resolves when `probe` (run on every output and at the exit) answers; bounded by `timeoutMs`. */
  private waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolveHit, reject) => {
      const check = (): void => {
        const hit = probe();
        if (hit !== undefined) return finish(() => resolveHit(hit));
        if (this.exitInfo) {
          const { code, signal } = this.exitInfo;
          finish(() => reject(new Error(`${this.label} exited (code ${code}, signal ${signal}) before ${what}:\n${this.text.slice(-4000)}`)));
        }
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms:\n${this.text.slice(-4000)}`))), timeoutMs);
      const finish = (then: () => void): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
        then();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILL if it outlives `graceMs`. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', graceMs = settings.stopTimeoutMs): Promise<ExitInfo> {
    if (!this.running) return this.exitInfo!;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

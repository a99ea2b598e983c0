import { Command, CommanderError } from 'commander';
import { AdminClient } from './admin/admin-client.js';
import { monitorAddress } from './admin/monitor-address.js';
import { SECTIONS, type Section, fetchSections, sectionByCode } from './admin/sections.js';
import { EXIT, type ExitCode, MasterUnavailableError, describeError, exitCodeOf } from './exit-codes.js';

export interface CliEnv {
  out?: (text: string) => void;
  err?: (text: string) => void;
}

/**
 * `tsmfs-cli -H HOST -P PORT -S<section>…`, like mfscli: each -S names a section
 * (IN info, CS chunkservers, HD disks, MU mounts, IC chunk health, EX exports), printed
 * as plain-text tables or, with --json, as one JSON object keyed by section code.
 * PORT is the master's HTTP port (9425), where the JSON API behind the monitor is, or, as
 * with mfscli, its client port (9421), whose handshake tells where the HTTP port is.
 */
export async function runTsmfsCli(argv: readonly string[], env: CliEnv = {}): Promise<ExitCode> {
  const out = env.out ?? ((t: string) => void process.stdout.write(t));
  const err = env.err ?? ((t: string) => void process.stderr.write(t));
  const program = new Command('tsmfs-cli')
    .description(`cluster status from the master's HTTP JSON API. Sections: ${SECTIONS.map((s) => `-S${s.code} (${s.title})`).join(', ')}`)
    .helpOption('--help', 'show this help')
    .option('-H, --host <host>', 'master host (its HTTP_LISTEN_HOST)', '127.0.0.1')
    .option('-P, --port <port>', "master HTTP port (HTTP_LISTEN_PORT), or its client port (MATOCL_LISTEN_PORT) as with mfscli", '9425')
    .option('-S, --section <code>', 'a section to show (repeatable): IN, CS, HD, MU, IC, EX; default IN', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--json', 'print JSON (one object keyed by section code) instead of tables')
    .option('-n, --numbers', 'exact byte counts instead of KiB/MiB/…')
    .option('-m, --mode <mode>', "which view of a section, as mfscli's -m: for IC 0 all chunks (default), 1 regular chunks (copies on disks marked for removal left out)", '0')
    .option('-p, --plain', "mfscli's plain lines (tab-separated, no title) for the sections that have them (IC, SC)")
    .exitOverride()
    .configureOutput({ writeOut: out, writeErr: err });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    throw e;
  }
  const o = program.opts<{ host: string; port: string; section: string[]; json?: boolean; numbers?: boolean; mode: string; plain?: boolean }>();
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    err(`tsmfs-cli: bad port '${o.port}'\n`);
    return EXIT.usage;
  }
  if (!/^[01]$/.test(o.mode)) {
    err(`tsmfs-cli: bad mode '${o.mode}' (-m 0: all chunks, -m 1: regular chunks)\n`);
    return EXIT.usage;
  }
  const sections: Section[] = [];
  for (const code of o.section.length ? o.section : ['IN']) {
    const s = sectionByCode(code);
    if (!s) {
      err(`tsmfs-cli: unknown section '${code}' (known: ${SECTIONS.map((x) => x.code).join(', ')})\n`);
      return EXIT.usage;
    }
    sections.push(s);
  }
  try {
    const docs = await fetchFrom(o.host, port, sections);
    if (o.json) out(`${JSON.stringify(docs, null, 2)}\n`);
    else {
      const text = { mode: Number(o.mode), mfsPlain: !!o.plain };
      // -p: mfscli's plain lines stand alone, as mfscli prints them (no title).
      out(sections.map((s) => (o.plain && (s.code === 'IC' || s.code === 'SC') ? `${s.text(docs[s.code], !!o.numbers, text)}\n` : `${s.title}:\n${s.text(docs[s.code], !!o.numbers, text)}\n`)).join('\n'));
    }
    return EXIT.ok;
  } catch (e) {
    err(`tsmfs-cli: ${describeError(e)}\n`);
    return exitCodeOf(e);
  }
}

/**
 * The sections from the JSON API at `host:port`, or, when that port answers no HTTP but
 * is a master's client port, from the HTTP port its handshake names (tried only then:
 * the usual case costs no extra request).
 */
async function fetchFrom(host: string, port: number, sections: readonly Section[]): Promise<Record<string, unknown>> {
  const direct = new AdminClient(host, port);
  try {
    return await fetchSections(direct, sections);
  } catch (err) {
    if (!(err instanceof MasterUnavailableError)) throw err;
    const monitor = await monitorAddress(host, port);
    if (!monitor) throw err;
    return fetchSections(direct.at(monitor.host, monitor.port), sections);
  }
}

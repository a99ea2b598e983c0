import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { applyNiceLevel } from '@tsmfs/daemon';
import { pino } from 'pino';
import { daemonize, reportStatus } from '../daemonize.js';
import { DEFAULTS, DEFAULT_OPTIONS_FILE, mountConfig, parseMountSpec, readOptionsFile, splitOptions } from '../mount-options.js';
import { VERSION, startMount } from '../mount.js';

const program = new Command('tsmfs-mount')
  .description('Mount a tsmfs file system (like mfsmount). Unmount with `fusermount -u MOUNTPOINT`.')
  .version(VERSION)
  .usage('[options] [HOST[:PORT]:[PATH]] [mountpoint]')
  .argument('[spec]', 'HOST[:PORT]:[PATH] as mfsmount and mount(8) take it (HOST may list several masters: a,b,c); or the mount point when alone')
  .argument('[mountpoint]', 'directory to mount on (default: the options file\'s mount point line)')
  .option('-c, --config <file>', `options file (mfsmount.cfg's format; default ${DEFAULT_OPTIONS_FILE} when it exists); also -o mfscfgfile=FILE`)
  .option('-H, --host <hosts>', 'master host(s), comma-separated for failover; HOST:PORT allowed (default "mfsmaster")')
  .option('-P, --port <port>', `master port (default ${DEFAULTS.port})`)
  .option('-S, --subdir <path>', 'mount this directory of the file system as the root (default /)')
  .option('-m, --meta', 'mount the meta file system (trash/, trash/undel/, sustained/)')
  .option('-f, --foreground', 'stay in the foreground (logs on stderr)')
  .option(
    '-o, --option <opts>',
    'mount options, comma-separated, repeatable: password=, ro, mfstimeout=SEC (wait for a lost master, default ' +
      `${DEFAULTS.masterTimeoutSec}), mfsattrcacheto=SEC, mfsentrycacheto=SEC (default ${DEFAULTS.attrTimeoutSec}), ` +
      'mfsreadaheadmax=BYTES, mfsnice=N (nice level, default -19), noacl (the kernel checks mode bits only, the master ' +
      'still the POSIX ACLs); anything else goes to FUSE (allow_other, nonempty, …)',
    (v: string, prev: string[]) => [...prev, v],
    [] as string[],
  )
  .showHelpAfterError();

program.parse();
const opts = program.opts<{ host?: string; port?: string; subdir?: string; meta?: boolean; foreground?: boolean; config?: string; option: string[] }>();

/**
 * Everything the command line and the options file say, the command line winning: -H/-P/-S
 * over HOST[:PORT]:[PATH], over -o mfsmaster/mfsport/mfssubfolder, over the file's lines.
 */
function configFromArgs() {
  const [first, second] = program.args;
  const spec = second !== undefined ? parseMountSpec(first!) : undefined;
  const named = opts.config ?? splitOptions(opts.option).findLast(([k]) => k === 'mfscfgfile')?.[1];
  const fromFile = named !== undefined ? readOptionsFile(named) : existsSync(DEFAULT_OPTIONS_FILE) ? readOptionsFile(DEFAULT_OPTIONS_FILE) : undefined;
  const mountpoint = second ?? first ?? fromFile?.mountpoint;
  if (mountpoint === undefined) throw new Error(`no mount point given (nor a mount point line in ${named ?? DEFAULT_OPTIONS_FILE})`);
  return mountConfig(mountpoint, {
    host: opts.host ?? spec?.host,
    port: opts.port ?? spec?.port,
    subdir: opts.subdir ?? spec?.subdir,
    meta: opts.meta,
    option: [...(fromFile?.options ?? []), ...opts.option],
  });
}

async function main(): Promise<number> {
  let config;
  try {
    config = configFromArgs();
  } catch (err) {
    process.stderr.write(`tsmfs-mount: ${(err as Error).message}\n`);
    return 2;
  }
  if (!opts.foreground) return daemonize(process.argv.slice(1));

  const log = pino({ name: 'tsmfs-mount', level: process.env.LOG_LEVEL ?? 'info', base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
  applyNiceLevel(config.niceLevel, log);
  let mount;
  try {
    mount = await startMount(config, log);
  } catch (err) {
    const message = `cannot mount ${config.mountpoint}: ${(err as Error).message}`;
    reportStatus(message);
    process.stderr.write(`tsmfs-mount: ${message}\n`);
    return 1;
  }
  reportStatus('mounted');
  const stop = (signal: string) => {
    log.info({ signal }, 'unmounting');
    void mount.stop();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => undefined);
  await mount.ended;
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`tsmfs-mount: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

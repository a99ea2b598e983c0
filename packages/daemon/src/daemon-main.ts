import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { type ConfigSchema, type ConfigValues, ConfigError, describeConfig, loadConfig } from './config.js';
import { type Logger, createLogger } from './logger.js';
import { applyNiceLevel } from './nice.js';
import { type Service, startAll, stopAll } from './service.js';

export interface DaemonSpec<S extends ConfigSchema> {
  /** Command name as users type it: tsmfs-master. */
  name: string;
  description: string;
  schema: S;
  /** Default config file; used only if it exists (MooseFS reads /etc/mfs/*.cfg the same way). */
  defaultConfigFile?: string;
  /** Builds the ordered service list from validated configuration. May throw ConfigError. */
  build: (config: ConfigValues<S>, log: Logger) => Service[] | Promise<Service[]>;
  /**
   * The keys that take effect without a restart (MooseFS's reload): on SIGHUP the file is
   * read again and, when it is valid, handed here; a mistake keeps the running values.
   */
  reload?: (config: ConfigValues<S>, log: Logger) => void;
}

/**
 * The common main of every daemon: parse flags, load and validate the config, start
 * the services in order, stop them in reverse on SIGTERM/SIGINT. Any start-up failure
 * is one clear line on stderr and a non-zero exit.
 */
export async function runDaemon<S extends ConfigSchema>(spec: DaemonSpec<S>, argv = process.argv): Promise<void> {
  const program = new Command(spec.name)
    .description(spec.description)
    .option('-c, --config <file>', 'configuration file (KEY = VALUE lines)', spec.defaultConfigFile)
    .addHelpText('after', `\nConfiguration keys:\n${describeConfig(spec.schema)}\n`)
    .showHelpAfterError();
  program.parse(argv);
  const opts = program.opts<{ config?: string }>();
  const log = createLogger(spec.name);
  let services: Service[] = [];
  try {
    const loaded = loadConfig(spec.schema, configFileToRead(opts.config, spec.defaultConfigFile));
    for (const w of loaded.warnings) log.warn(w);
    log.info({ config: loaded.source }, 'starting');
    const nice = (loaded.values as Record<string, unknown>).NICE_LEVEL;
    if (typeof nice === 'number') applyNiceLevel(nice, log);
    services = await spec.build(loaded.values, log);
    await startAll(services, log);
  } catch (err) {
    fatal(spec.name, log, err);
    return;
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void stopAll(services, log).then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const { reload } = spec;
  if (reload) process.on('SIGHUP', () => reloadConfig(spec.schema, configFileToRead(opts.config, spec.defaultConfigFile), log, reload));
  log.info('ready');
}

function reloadConfig<S extends ConfigSchema>(schema: S, file: string | undefined, log: Logger, apply: (config: ConfigValues<S>, log: Logger) => void): void {
  try {
    const loaded = loadConfig(schema, file);
    for (const w of loaded.warnings) log.warn(w);
    apply(loaded.values, log);
  } catch (err) {
    log.error({ config: file, err: (err as Error).message }, 'configuration not reloaded: the running values stay');
  }
}

/** The default config file is optional, as MooseFS's /etc/mfs files are; a named one is not. */
function configFileToRead(given: string | undefined, fallback: string | undefined): string | undefined {
  if (given !== undefined && given === fallback && !existsSync(given)) return undefined;
  return given;
}

function fatal(name: string, log: Logger, err: unknown): void {
  const message = describeStartupError(err);
  log.fatal({ err: message }, 'cannot start');
  process.stderr.write(`${name}: ${message}\n`);
  process.exit(1);
}

function describeStartupError(err: unknown): string {
  if (err instanceof ConfigError) return err.message;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code === 'EADDRINUSE') return `address ${e.address ?? ''}:${e.port ?? ''} is already in use`;
  if (e.code === 'EADDRNOTAVAIL') return `address ${e.address ?? ''} is not available on this machine`;
  return e.message ?? String(err);
}

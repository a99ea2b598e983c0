import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Logger, type Service } from '@tsmfs/daemon';
import { ChangelogFollower, DataLock, METALOGGER_FILES, checkDataPath } from '@tsmfs/metastore';
import { type MetaloggerConfig, masterAddresses } from './config.js';
import { MlChangelog } from './ml-changelog.js';

/** The metalogger's changelog files: opened (resume point read back) before the link starts. */
class ChangelogFiles implements Service {
  readonly name = 'ml-changelog';
  constructor(
    readonly changelog: MlChangelog,
    private readonly dir: string,
  ) {}

  async start(): Promise<void> {
    // A download cut short by a crash: never the newest dump, just a leftover.
    rmSync(join(this.dir, METALOGGER_FILES.dumpTemp), { force: true });
    await this.changelog.open();
  }

  async stop(): Promise<void> {
    await this.changelog.close();
  }
}

export interface MetaloggerHooks {
  onFatal?: (err: Error) => void;
}

/**
 * tsmfs-metalogger as an ordered list of services: lock DATA_PATH (the master's lock
 * file, so a master promoted onto this folder cannot start while the metalogger still
 * writes there) → the changelog files → the master link.
 */
export function buildMetalogger(config: MetaloggerConfig, log: Logger, hooks: MetaloggerHooks = {}): Service[] {
  checkDataPath(config.DATA_PATH);
  const dir = config.DATA_PATH;
  const masters = masterAddresses(config);
  const component = (name: string): Logger => log.child({ component: name });
  const lock = new DataLock(dir, component('data-lock'));
  const changelog = new MlChangelog(dir, config.BACK_LOGS, config.CHANGELOG_FSYNC, component('ml-changelog'));
  const files = new ChangelogFiles(changelog, dir);
  const link = new ChangelogFollower({
    masters,
    role: 'metalogger',
    name: `metalogger@${hostname()}`,
    sink: changelog,
    dir,
    files: METALOGGER_FILES,
    keepPrevious: config.BACK_META_KEEP_PREVIOUS,
    dumpEveryMs: config.META_DOWNLOAD_FREQ * 3_600_000,
    maxReconnectDelayMs: config.MASTER_RECONNECTION_DELAY * 1000,
    timeoutMs: config.MASTER_TIMEOUT * 1000,
    authCode: config.AUTH_CODE,
    log: component('master-conn'),
    onFatal: hooks.onFatal ?? (() => undefined),
  });
  return [lock, files, link];
}

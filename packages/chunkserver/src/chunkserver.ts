import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, type Logger, type Service, linkLimits } from '@tsmfs/daemon';
import { GrantVerifier } from '@tsmfs/protocol';
import { type ChunkserverConfig, listenHost, parseLabels, parseMasters, parseSize } from './config.js';
import { DataServer } from './data-server.js';
import { loadHddConfig } from './hdd-config.js';
import { HddManager } from './hdd-manager.js';
import { MasterLink } from './master-link.js';
import { replicateChunk } from './replication.js';

/**
 * The chunkserver's modules in start-up order (stopped in reverse): disks first, so
 * that nothing is served or reported before the chunks are known; then the data
 * server; then the master link, which reports the data server's address.
 */
export interface Chunkserver {
  services: Service[];
  /** SIGHUP (MooseFS's reload): the hdd file is read again and its changes applied (HddManager.reload). */
  reload(config: ChunkserverConfig, log: Logger): Promise<void>;
}

export async function buildChunkserver(config: ChunkserverConfig, log: Logger): Promise<Chunkserver> {
  const disks = await loadHddConfig(resolve(config.HDD_CONF_FILENAME));
  const leaveSpace = parseSize(config.HDD_LEAVE_SPACE_DEFAULT, 'HDD_LEAVE_SPACE_DEFAULT');
  const labels = parseLabels(config.LABELS);
  const masters = parseMasters(config.MASTER_HOST, config.MASTER_PORT);
  await mkdir(resolve(config.DATA_PATH), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`DATA_PATH: cannot create ${config.DATA_PATH} (${err.code ?? err.message})`);
  });
  const name = hostname();
  const hdd = new HddManager({ disks, log, leaveSpace, testFreqSeconds: config.HDD_TEST_FREQ });
  const listen = listenHost(config.CSSERV_LISTEN_HOST);
  const tokens = new GrantVerifier();
  const data: DataServer = new DataServer({ host: listen, port: config.CSSERV_LISTEN_PORT, hdd, log, name, tokens, fsyncBeforeClose: config.HDD_FSYNC_BEFORE_CLOSE === 1, limits: linkLimits(config), created: (chunk) => master.created(chunk) });
  const master = new MasterLink({
    masters,
    hdd,
    log,
    name,
    labels,
    authCode: config.AUTH_CODE,
    tokens,
    // Listening on every address: let the master take the address our link comes from.
    dataAddress: () => ({ host: listen === '0.0.0.0' || listen === '::' ? '' : listen, port: data.port }),
    replicate: (chunkId, version, sources) => replicateChunk({ hdd, log, name }, chunkId, version, sources),
    traffic: () => data.traffic,
  });
  // One reload at a time: a second SIGHUP during a new disk's scan waits for it.
  let reloading = Promise.resolve();
  const reload = (next: ChunkserverConfig, rlog: Logger): Promise<void> =>
    (reloading = reloading.then(async () => {
      try {
        const changes = await hdd.reload(await loadHddConfig(resolve(next.HDD_CONF_FILENAME)));
        await master.disksReloaded(changes);
        rlog.info({ file: next.HDD_CONF_FILENAME, found: changes.found.length, marked: changes.marked.length, unmarked: changes.unmarked.length }, 'hdd configuration reloaded');
      } catch (err) {
        rlog.error({ file: next.HDD_CONF_FILENAME, err: (err as Error).message }, 'hdd configuration not reloaded: the disks stay as they were');
      }
    }));
  return { services: [hdd, data, master], reload };
}

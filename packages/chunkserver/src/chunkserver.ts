import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, type Logger, type Service } from '@tsmfs/daemon';
import { type ChunkserverConfig, listenHost, parseLabels, parseSize } from './config.js';
import { DataServer } from './data-server.js';
import { loadHddConfig } from './hdd-config.js';
import { HddManager } from './hdd-manager.js';

/**
 * The chunkserver's modules in start-up order (stopped in reverse): disks first, so
 * that the data server never answers before the chunks are known.
 */
export async function buildChunkserver(config: ChunkserverConfig, log: Logger): Promise<Service[]> {
  const disks = await loadHddConfig(resolve(config.HDD_CONF_FILENAME));
  const leaveSpace = parseSize(config.HDD_LEAVE_SPACE_DEFAULT, 'HDD_LEAVE_SPACE_DEFAULT');
  parseLabels(config.LABELS);
  await mkdir(resolve(config.DATA_PATH), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(`DATA_PATH: cannot create ${config.DATA_PATH} (${err.code ?? err.message})`);
  });
  const hdd = new HddManager({ disks, log, leaveSpace, testFreqSeconds: config.HDD_TEST_FREQ });
  const data = new DataServer({ host: listenHost(config.CSSERV_LISTEN_HOST), port: config.CSSERV_LISTEN_PORT, hdd, log, name: hostname() });
  // TODO(issue 3, master link): register with MASTER_HOST:MASTER_PORT (chunkserverRegister,
  // chunkReport, heartbeats, the chunk* commands, chunksLost/chunksDamaged from hdd events).
  log.warn(
    { master: `${config.MASTER_HOST}:${config.MASTER_PORT}` },
    'master link not implemented yet: this chunkserver runs its disks and data server only and does not register with the master',
  );
  return [hdd, data];
}

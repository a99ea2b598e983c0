#!/usr/bin/env node
import { runDaemon } from '@tsmfs/daemon';
import { type Chunkserver, buildChunkserver } from '../chunkserver.js';
import { chunkserverConfig } from '../config.js';

let chunkserver: Chunkserver | undefined;
await runDaemon({
  name: 'tsmfs-chunkserver',
  description: 'tsmfs chunkserver: stores chunks on its disks and serves them on the data port',
  schema: chunkserverConfig,
  defaultConfigFile: '/etc/tsmfs/tsmfschunkserver.cfg',
  build: async (config, log) => {
    chunkserver = await buildChunkserver(config, log);
    return chunkserver.services;
  },
  reload: (config, log) => void chunkserver?.reload(config, log),
});

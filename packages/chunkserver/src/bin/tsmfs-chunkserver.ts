#!/usr/bin/env node
import { runDaemon } from '@tsmfs/daemon';
import { buildChunkserver } from '../chunkserver.js';
import { chunkserverConfig } from '../config.js';

await runDaemon({
  name: 'tsmfs-chunkserver',
  description: 'tsmfs chunkserver: stores chunks on its disks and serves them on the data port',
  schema: chunkserverConfig,
  defaultConfigFile: '/etc/tsmfs/tsmfschunkserver.cfg',
  build: buildChunkserver,
});

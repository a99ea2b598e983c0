#!/usr/bin/env node
import { runDaemon } from '@tsmfs/daemon';
import { masterSchema } from '../config.js';
import { type Master, buildMaster } from '../master.js';

let master: Master | undefined;
await runDaemon({
  name: 'tsmfs-master',
  description: 'tsmfs metadata server (MooseFS-compatible master)',
  schema: masterSchema,
  defaultConfigFile: '/etc/tsmfs/tsmfsmaster.cfg',
  build: (config, log) => {
    master = buildMaster(config, log, {
      onFatal: (err) => {
        process.stderr.write(`tsmfs-master: stopping: ${err.message}\n`);
        process.exit(1);
      },
    });
    return master.services;
  },
  reload: (config, log) => master?.reload(config, log),
});

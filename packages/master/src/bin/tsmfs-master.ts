#!/usr/bin/env node
import { runDaemon } from '@tsmfs/daemon';
import { masterSchema } from '../config.js';
import { buildMaster } from '../master.js';

await runDaemon({
  name: 'tsmfs-master',
  description: 'tsmfs metadata server (MooseFS-compatible master)',
  schema: masterSchema,
  defaultConfigFile: '/etc/tsmfs/tsmfsmaster.cfg',
  build: (config, log) =>
    buildMaster(config, log, {
      onFatal: (err) => {
        process.stderr.write(`tsmfs-master: stopping: ${err.message}\n`);
        process.exit(1);
      },
    }).services,
});

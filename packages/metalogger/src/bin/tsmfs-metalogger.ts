#!/usr/bin/env node
import { runDaemon } from '@tsmfs/daemon';
import { metaloggerSchema } from '../config.js';
import { buildMetalogger } from '../metalogger.js';

await runDaemon({
  name: 'tsmfs-metalogger',
  description: 'tsmfs metalogger: a live copy of the master\'s changelog and periodic metadata dumps',
  schema: metaloggerSchema,
  defaultConfigFile: '/etc/tsmfs/tsmfsmetalogger.cfg',
  build: (config, log) =>
    buildMetalogger(config, log, {
      onFatal: (err) => {
        process.stderr.write(`tsmfs-metalogger: changelog write failed, stopping: ${err.message}\n`);
        process.exit(1);
      },
    }),
});

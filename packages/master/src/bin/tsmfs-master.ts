#!/usr/bin/env -S node --max-semi-space-size=4
// A young generation of 4 MiB semi-spaces (V8 default: up to 16): the master allocates
// fast while creating and kept ~100 B per inode of unused heap afterwards (docs/
// benchmarks.md, "Master memory per inode"). A flag V8 reads at start only: it is in the
// shebang, in packages/master/bin/tsmfs-master.js and the systemd unit, and the launcher
// runs a script with its shebang's flags (test/deploy-files.test.ts keeps them equal).
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

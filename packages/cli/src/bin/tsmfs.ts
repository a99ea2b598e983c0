import { runTsmfs } from '../tsmfs-command.js';

process.exitCode = await runTsmfs(process.argv.slice(2));

import { runTsmfsCli } from '../tsmfs-cli-command.js';

process.exitCode = await runTsmfsCli(process.argv.slice(2));

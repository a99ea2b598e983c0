#!/usr/bin/env node
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { RestoreError, autoOutput, findRestoreInputs, restore } from '../metarestore.js';

/** Inputs smaller than this restore in a blink: no bar. */
const BAR_THRESHOLD = 16 * 1024 * 1024;

const program = new Command('tsmfs-metarestore')
  .description(
    'Rebuild a master\'s metadata dump from a dump and every later changelog entry (MooseFS\'s mfsmetarestore).\n' +
      'Reads a master\'s (metadata.tsmfs, changelog.N.tsmfs) or a metalogger\'s (metadata_ml.tsmfs, changelog_ml.N.tsmfs) files.',
  )
  .option('-a, --auto', 'use the newest dump and every changelog in DATA_PATH; write DATA_PATH/metadata.tsmfs')
  .option('-d, --data-path <dir>', 'DATA_PATH for -a', '/var/lib/tsmfs')
  .option('-m, --dump <file>', 'the dump to start from (explicit form)')
  .option('-o, --output <file>', 'the dump to write (explicit form)')
  .argument('[changelog...]', 'changelog files (explicit form), in any order')
  .addHelpText(
    'after',
    '\nExamples:\n  tsmfs-metarestore -a -d /var/lib/tsmfs\n  tsmfs-metarestore -m metadata_ml.tsmfs -o metadata.tsmfs changelog_ml.1.tsmfs changelog_ml.0.tsmfs\n' +
      '\nNothing is written unless the whole replay succeeds. An existing output is kept as OUTPUT.back.1.\n',
  )
  .showHelpAfterError();

program.parse();
const opts = program.opts<{ auto?: boolean; dataPath: string; dump?: string; output?: string }>();
const changelogs = program.args;

function fail(message: string, code = 1): never {
  process.stderr.write(`tsmfs-metarestore: ${message}\n`);
  process.exit(code);
}

function inputs(): { dump: string; changelogs: string[]; out: string } {
  if (opts.auto) {
    if (opts.dump || opts.output || changelogs.length > 0) fail('-a takes only -d DATA_PATH (use -m/-o for explicit files)', 2);
    const found = findRestoreInputs(opts.dataPath);
    return { dump: found.dump, changelogs: found.changelogs, out: autoOutput(opts.dataPath) };
  }
  if (!opts.dump || !opts.output) fail('give either -a [-d DATA_PATH], or -m DUMP -o OUTPUT CHANGELOG...', 2);
  return { dump: opts.dump, changelogs, out: opts.output };
}

function progressBar(): { update: (done: number, total: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'restoring [{bar}] {percentage}% | {value}/{total} MiB | eta {eta}s', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (done, total) => {
      if (total < BAR_THRESHOLD) return;
      if (!started) {
        bar.start(Math.ceil(total / 1048576), 0);
        started = true;
      }
      bar.update(Math.floor(done / 1048576));
    },
    stop: () => started && bar.stop(),
  };
}

try {
  const input = inputs();
  const bar = progressBar();
  const t0 = performance.now();
  let result;
  try {
    result = restore({ ...input, onProgress: bar.update, warn: (m) => process.stderr.write(`tsmfs-metarestore: warning: ${m}\n`) });
  } finally {
    bar.stop();
  }
  const ms = Math.round(performance.now() - t0);
  process.stdout.write(
    `restored version ${result.version} (dump ${input.dump} at version ${result.dumpVersion} + ${result.applied} changelog entries` +
      `${result.skipped > 0 ? `, ${result.skipped} older entries skipped` : ''}) into ${result.out} in ${ms} ms\n`,
  );
} catch (err) {
  if (err instanceof RestoreError) fail(err.message);
  const e = err as NodeJS.ErrnoException;
  if (e.code && e.path) fail(`${e.path}: ${e.code} (${e.message})`);
  throw err;
}

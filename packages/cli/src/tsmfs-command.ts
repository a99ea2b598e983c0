import { Command, CommanderError } from 'commander';
import { EXIT, type ExitCode, describeError, exitCodeOf } from './exit-codes.js';
import { FORMAT_FLAGS, type FormatFlag, type NumberFormat, numberFormatFrom } from './number-format.js';
import { MountPathResolver, type PathResolver } from './path-resolver.js';
import { type ToolIo, processIo } from './tool-io.js';
import { checkfile, fileinfo, filerepair } from './tools/chunk-tools.js';
import { filepaths } from './tools/file-paths.js';
import { dirinfo } from './tools/dirinfo.js';
import { copygoal, copytrashtime, getgoal, gettrashtime, parseValueArg, setgoal, settrashtime } from './tools/goal-tools.js';
import { copyquota, delquota, getquota, quotaArgs, quotaKindsToDelete, setquota } from './tools/quota-tools.js';
import { appendchunks, makesnapshot, parseSlice } from './tools/snapshot-tools.js';
import { changeEattr, copyeattr, geteattr, parseEattrNames, rmsnapshot } from './tools/eattr-tools.js';
import { type ScadminOptions, archive, chkarchive, copysclass, getsclass, listsclass, scadmin, setsclass } from './tools/sclass-tools.js';

export interface ToolsEnv {
  /** Default: paths inside tsmfs mounts (MountPathResolver). */
  resolver?: () => PathResolver;
  /** Default: the process's stdout/stderr. */
  io?: (format: NumberFormat) => ToolIo;
  /** MooseFS's MFSHRFORMAT (the default number format); default: the process's environment. */
  hrformat?: string;
}

type Run = (resolver: PathResolver, io: ToolIo, args: string[], opts: Record<string, boolean | string[]>) => Promise<ExitCode>;
/** An option: flags, doc, and for one that takes a value and may repeat (-f NAME -f NAME) its collector. */
type OptionSpec = [string, string] | [string, string, (value: string, previous: string[]) => string[], string[]];
const collect = (value: string, previous: string[]): string[] => [...previous, value];

const FORMAT_HELP = '-n: plain numbers (default), -h: binary prefixes (Ki, Mi…), -H: SI prefixes (k, M…), -k/-m/-g: plain numbers in KiB/MiB/GiB (MFSHRFORMAT as in MooseFS)';

/**
 * `tsmfs <tool>`: MooseFS's tools (mfssetgoal, mfsfileinfo, …) as subcommands. Each
 * resolves its PATHs to (tool session, inode) through the mount they are in and returns
 * an exit code (exit-codes.ts); it never calls process.exit itself, so tests run it
 * in-process.
 */
export async function runTsmfs(argv: readonly string[], env: ToolsEnv = {}): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  const program = new Command('tsmfs')
    .description('tsmfs tools for files in a tsmfs mount (MooseFS\'s mfs* tools)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });

  const tool = (name: string, usage: string, description: string, run: Run, options: OptionSpec[] = []): void => {
    const cmd = program.command(name).usage(usage).description(description).helpOption('--help', 'show this help').exitOverride();
    for (const [flags, doc, parse, initial] of options) {
      if (parse) cmd.option(flags, doc, parse, initial);
      else cmd.option(flags, doc);
    }
    cmd.allowExcessArguments(true).argument('[args...]');
    // The format flags in the order given (bundles such as -rh too): -n/-h/-H and -k/-m/-g do not simply override each other.
    const formatFlags: FormatFlag[] = [];
    for (const f of FORMAT_FLAGS) cmd.on(`option:${f}`, () => formatFlags.push(f));
    cmd.action(async (args: string[], opts: Record<string, boolean | string[]>) => {
      const format = numberFormatFrom(formatFlags, 'hrformat' in env ? env.hrformat : process.env.MFSHRFORMAT);
      const io = env.io ? env.io(format) : processIo(format);
      const resolver = env.resolver ? env.resolver() : new MountPathResolver();
      try {
        code = await run(resolver, io, args, opts);
      } catch (err) {
        io.err(`tsmfs ${name}: ${describeError(err)}`);
        code = exitCodeOf(err);
      } finally {
        resolver.close();
      }
    });
  };
  const fmt: OptionSpec[] = [['-n', 'plain numbers'], ['-h', 'binary prefixes (Ki, Mi, …)'], ['-H', 'SI prefixes (k, M, …)'], ['-k', 'plain numbers in KiB (1024)'], ['-m', 'plain numbers in MiB (1024²)'], ['-g', 'plain numbers in GiB (1024³)']];
  const rec: [string, string] = ['-r', 'recursive: the whole tree under each directory'];
  const need = (args: string[], n: number, usage: string): void => {
    if (args.length < n) throw new CommanderUsage(`missing arguments; usage: ${usage}`);
  };

  tool('setgoal', '[-r] [-n|-h|-H|-k|-m|-g] GOAL[+|-] PATH...', `set the goal (copies of the data, 1-9); GOAL+ only raises, GOAL- only lowers. ${FORMAT_HELP}`, (r, io, a, o) => {
    need(a, 2, 'tsmfs setgoal [-r] GOAL[+|-] PATH...');
    return setgoal(r, io, parseValueArg(a[0]!, 'goal'), a.slice(1), !!o.r);
  }, [rec, ...fmt]);
  tool('getgoal', '[-r] [-n|-h|-H|-k|-m|-g] PATH...', 'print the goal (a storage class other than 1-9: its name, as getsclass); with -r, how many files and directories under each directory have each', (r, io, a, o) => {
    need(a, 1, 'tsmfs getgoal [-r] PATH...');
    return getgoal(r, io, a, !!o.r);
  }, [rec, ...fmt]);
  tool('settrashtime', '[-r] [-n|-h|-H|-k|-m|-g] SECONDS[+|-] PATH...', 'set how long a deleted file stays in trash; SECONDS+ only raises, SECONDS- only lowers', (r, io, a, o) => {
    need(a, 2, 'tsmfs settrashtime [-r] SECONDS[+|-] PATH...');
    return settrashtime(r, io, parseValueArg(a[0]!, 'trashtime'), a.slice(1), !!o.r);
  }, [rec, ...fmt]);
  tool('gettrashtime', '[-r] [-n|-h|-H|-k|-m|-g] PATH...', 'print the trash time; with -r, a histogram of the tree', (r, io, a, o) => {
    need(a, 1, 'tsmfs gettrashtime [-r] PATH...');
    return gettrashtime(r, io, a, !!o.r);
  }, [rec, ...fmt]);
  // MooseFS 3.0 still ships these, deprecated: -r's forms, with a word on stderr.
  const recursiveForms: [string, string, number, Run][] = [
    ['setgoal', 'GOAL[+|-] PATH...', 2, (r, io, a) => setgoal(r, io, parseValueArg(a[0]!, 'goal'), a.slice(1), true)],
    ['getgoal', 'PATH...', 1, (r, io, a) => getgoal(r, io, a, true)],
    ['settrashtime', 'SECONDS[+|-] PATH...', 2, (r, io, a) => settrashtime(r, io, parseValueArg(a[0]!, 'trashtime'), a.slice(1), true)],
    ['gettrashtime', 'PATH...', 1, (r, io, a) => gettrashtime(r, io, a, true)],
  ];
  for (const [name, args, min, run] of recursiveForms) {
    tool(`r${name}`, `[-n|-h|-H|-k|-m|-g] ${args}`, `deprecated: ${name} -r (as mfsr${name})`, (r, io, a, o) => {
      need(a, min, `tsmfs r${name} ${args}`);
      io.err(`deprecated tool - use "tsmfs ${name} -r"`);
      return run(r, io, a, o);
    }, fmt);
  }
  tool('copygoal', '[-r] [-n|-h|-H|-k|-m|-g] SRC PATH...', 'give each PATH the goal or storage class SRC has (as copysclass)', (r, io, a, o) => {
    need(a, 2, 'tsmfs copygoal [-r] SRC PATH...');
    return copygoal(r, io, a[0]!, a.slice(1), !!o.r);
  }, [rec, ...fmt]);
  tool('copytrashtime', '[-r] [-n|-h|-H|-k|-m|-g] SRC PATH...', 'give each PATH the trash time SRC has (as settrashtime would set it)', (r, io, a, o) => {
    need(a, 2, 'tsmfs copytrashtime [-r] SRC PATH...');
    return copytrashtime(r, io, a[0]!, a.slice(1), !!o.r);
  }, [rec, ...fmt]);
  tool('filepaths', 'PATH|INODE...', 'print every path of each file (one per hard link), and where it was removed from if it is in the trash; INODE: an inode number of the mount the current directory is in', (r, io, a) => {
    need(a, 1, 'tsmfs filepaths PATH|INODE...');
    return filepaths(r, io, a);
  });
  tool('fileinfo', 'PATH...', 'print each chunk of each file: id, version, and every copy with its chunkserver and state (VALID, STALE, DAMAGED)', (r, io, a) => {
    need(a, 1, 'tsmfs fileinfo PATH...');
    return fileinfo(r, io, a);
  });
  // mfscheckfile takes the format flags too, though its man page does not list them.
  tool('checkfile', '[-n|-h|-H|-k|-m|-g] PATH...', 'count the chunks of each file by number of valid copies', (r, io, a) => {
    need(a, 1, 'tsmfs checkfile PATH...');
    return checkfile(r, io, a);
  }, fmt);
  tool('dirinfo', '[-n|-h|-H|-k|-m|-g] PATH...', 'totals of each tree: inodes, directories, files, chunks, length, size, realsize (size × goal)', (r, io, a) => {
    need(a, 1, 'tsmfs dirinfo PATH...');
    return dirinfo(r, io, a);
  }, fmt);
  tool('makesnapshot', '[-o] [-c] [-p] SRC... DST', 'copy files or trees sharing their chunks (copy-on-write); -o overwrites an existing destination', (r, io, a, o) => {
    need(a, 2, 'tsmfs makesnapshot [-o] [-c] [-p] SRC... DST');
    return makesnapshot(r, io, a.slice(0, -1), a.at(-1)!, { overwrite: !!o.o, cplike: !!o.c, preserveHardlinks: !!o.p });
  }, [
    ['-o', 'overwrite: merge into an existing directory, replace an existing file'],
    ['-c', 'make the copies as cp would without --preserve: yours, mode less your umask, times now, goal, trash time and extra attributes of where they go, no xattrs or ACLs of the source'],
    ['-p', 'keep hard links: names of one file inside SRC stay names of one file in the copy'],
  ]);
  const attrs: OptionSpec = ['-f <name>', 'an attribute (noowner, noattrcache, noentrycache, nodatacache, snapshot, undeletable, appendonly, immutable); repeat -f or give a comma-separated list', collect, []];
  const names = (o: Record<string, boolean | string[]>) => parseEattrNames((o.f as string[] | undefined) ?? []);
  tool('seteattr', '[-r] [-n|-h|-H|-k|-m|-g] -f NAME [-f NAME...] PATH...', 'set extra attributes (MooseFS\'s mfsseteattr); undeletable, appendonly and immutable: root on an admin export only', (r, io, a, o) => {
    need(a, 1, 'tsmfs seteattr [-r] -f NAME [-f NAME...] PATH...');
    return changeEattr(r, io, names(o), 0, a, !!o.r);
  }, [rec, attrs, ...fmt]);
  tool('deleattr', '[-r] [-n|-h|-H|-k|-m|-g] -f NAME [-f NAME...] PATH...', 'clear extra attributes (mfsdeleattr)', (r, io, a, o) => {
    need(a, 1, 'tsmfs deleattr [-r] -f NAME [-f NAME...] PATH...');
    return changeEattr(r, io, 0, names(o), a, !!o.r);
  }, [rec, attrs, ...fmt]);
  tool('geteattr', '[-r] [-n|-h|-H|-k|-m|-g] PATH...', 'print the extra attributes; with -r, how many nodes under each directory have each set', (r, io, a, o) => {
    need(a, 1, 'tsmfs geteattr [-r] PATH...');
    return geteattr(r, io, a, !!o.r);
  }, [rec, ...fmt]);
  tool('copyeattr', '[-r] [-n|-h|-H|-k|-m|-g] SRC PATH...', 'give each PATH exactly the extra attributes SRC has (mfscopyeattr)', (r, io, a, o) => {
    need(a, 2, 'tsmfs copyeattr [-r] SRC PATH...');
    return copyeattr(r, io, a[0]!, a.slice(1), !!o.r);
  }, [rec, ...fmt]);
  tool('rmsnapshot', '[-f] PATH...', 'remove snapshot trees (a quick rm -r of what makesnapshot made, mfsrmsnapshot); a tree holding anything else is left whole, unless -f, which removes only what makesnapshot made', (r, io, a, o) => {
    need(a, 1, 'tsmfs rmsnapshot [-f] PATH...');
    return rmsnapshot(r, io, a, !!o.f);
  }, [['-f', 'remove what makesnapshot made and leave the rest']]);
  tool('filerepair', '[-n|-h|-H|-k|-m|-g] PATH...', 'make files with lost chunks readable: a chunk with only stale copies takes the newest one\'s version (repaired), a chunk with no copy reads as zeros (erased)', (r, io, a) => {
    need(a, 1, 'tsmfs filerepair PATH...');
    return filerepair(r, io, a);
  }, fmt);
  tool('appendchunks', '[-s FROM:TO] DST SRC...', 'append the chunks of each SRC to file DST (shared until written); DST is padded to a whole chunk first', (r, io, a, o) => {
    need(a, 2, 'tsmfs appendchunks [-s FROM:TO] DST SRC...');
    return appendchunks(r, io, a[0]!, a.slice(1), o.s === undefined ? {} : parseSlice(o.s as unknown as string));
  }, [['-s <from:to>', 'only chunks FROM (included) to TO (excluded) of each SRC, counted from 0; negative: from the end; either may be empty (the start, the end), as in Python']]);

  // Storage classes (MooseFS 3.0's mfsscadmin and mfs*sclass; docs/cli.md, docs/master.md "Storage classes").
  tool('scadmin', '[/MOUNTPOINT] create|change|delete|copy|rename|list [options] NAME...', 'define storage classes: where chunks are created (-C), kept (-K) and archived (-A after -d days); -m d|s|l: default, strict or loose when no labelled server can take a copy; all but list need an admin export and root', (r, io, a, o) => {
    need(a, 1, 'tsmfs scadmin [/MOUNTPOINT] create|change|delete|copy|rename|list ...');
    return scadmin(r, io, a, o as ScadminOptions);
  }, [
    ['-a <0|1>', 'admin only: 1, only admin sessions may give a node this class'],
    ['-m <mode>', 'create mode: d (default), s (strict), l (loose)'],
    ['-C <labels>', 'labels expression for new chunks (default: the keep labels)'],
    ['-K <labels>', 'labels expression for keeping chunks (required to create)'],
    ['-A <labels>', 'labels expression for archived chunks'],
    ['-d <days>', 'days without change after which a file is archived'],
    ['-f', 'change a predefined class (1-9)'],
    ['-l', 'list: with the definitions'],
  ]);
  tool('listsclass', '[-al] [MOUNTPOINT]', 'list the storage classes (-l: with their definitions)', (r, io, a, o) => listsclass(r, io, a[0], !!o.l, true), [['-l', 'with the definitions'], ['-a', 'accepted as by mfslistsclass (every class is listed)']]);
  tool('getsclass', '[-r] [-n|-h|-H|-k|-m|-g] PATH...', 'print the storage class; with -r, how many files and directories under each directory are in each class', (r, io, a, o) => {
    need(a, 1, 'tsmfs getsclass [-r] PATH...');
    return getsclass(r, io, a, !!o.r);
  }, [rec, ...fmt]);
  tool('setsclass', '[-r] [-n|-h|-H|-k|-m|-g] SCLASS_NAME PATH...', 'set the storage class (the owner or root; an admin-only class on an admin export)', (r, io, a, o) => {
    need(a, 2, 'tsmfs setsclass [-r] SCLASS_NAME PATH...');
    return setsclass(r, io, a[0]!, a.slice(1), !!o.r);
  }, [rec, ...fmt]);
  tool('xchgsclass', '[-r] [-n|-h|-H|-k|-m|-g] OLD_SCLASS NEW_SCLASS PATH...', 'set the storage class NEW_SCLASS where it is OLD_SCLASS now', (r, io, a, o) => {
    need(a, 3, 'tsmfs xchgsclass [-r] OLD_SCLASS NEW_SCLASS PATH...');
    return setsclass(r, io, a[1]!, a.slice(2), !!o.r, a[0]!);
  }, [rec, ...fmt]);
  tool('copysclass', '[-r] [-n|-h|-H|-k|-m|-g] SRC PATH...', 'give each PATH the storage class SRC has', (r, io, a, o) => {
    need(a, 2, 'tsmfs copysclass [-r] SRC PATH...');
    return copysclass(r, io, a[0]!, a.slice(1), !!o.r);
  }, [rec, ...fmt]);
  tool('setarchive', '[-n|-h|-H|-k|-m|-g] PATH...', 'archive the files of each PATH (a directory: its whole tree): their chunks go to their class\'s archive labels', (r, io, a) => {
    need(a, 1, 'tsmfs setarchive PATH...');
    return archive(r, io, true, a);
  }, fmt);
  tool('clrarchive', '[-n|-h|-H|-k|-m|-g] PATH...', 'take the files of each PATH out of the archive (back to the keep labels; their ctime moves, so the archive delay counts again)', (r, io, a) => {
    need(a, 1, 'tsmfs clrarchive PATH...');
    return archive(r, io, false, a);
  }, fmt);
  tool('chkarchive', '[-n|-h|-H|-k|-m|-g] PATH...', 'whether the files of each PATH are archived', (r, io, a) => {
    need(a, 1, 'tsmfs chkarchive PATH...');
    return chkarchive(r, io, a);
  }, fmt);

  const limits: [string, string][] = [
    ['-p <grace>', 'soft quota grace period: seconds or e.g. 7d, 1h30m (default: 7 days)'],
    ['-i <inodes>', 'soft limit of inodes'],
    ['-I <inodes>', 'hard limit of inodes'],
    ['-l <length>', 'soft limit of the files\' lengths'],
    ['-L <length>', 'hard limit of the files\' lengths'],
    ['-s <size>', 'soft limit of the chunks\' size'],
    ['-S <size>', 'hard limit of the chunks\' size'],
    ['-r <realsize>', 'soft limit of size × goal'],
    ['-R <realsize>', 'hard limit of size × goal'],
  ];
  tool('setquota', '[-n|-h|-H|-k|-m|-g] [-p grace_period] [-iI inodes] [-lL length] [-sS size] [-rR realsize] DIRECTORY...', 'set a directory\'s quota (lower case soft, upper case hard; numbers take k, M, G… or Ki, Mi, Gi…); other limits stay', (r, io, a, o) => {
    need(a, 1, 'tsmfs setquota [-p grace_period] [-iI inodes] [-lL length] [-sS size] [-rR realsize] DIRECTORY...');
    return setquota(r, io, quotaArgs(o), a);
  }, [...limits, ...fmt]);
  tool('getquota', '[-n|-h|-H|-k|-m|-g] DIRECTORY...', 'print a directory\'s quota: current values, soft and hard limits of inodes, length, size and realsize', (r, io, a) => {
    need(a, 1, 'tsmfs getquota DIRECTORY...');
    return getquota(r, io, a);
  }, fmt);
  const dels: [string, string][] = [['-a', 'every soft limit'], ['-A', 'every hard limit']];
  for (const [l, what] of [['i', 'inodes'], ['l', 'length'], ['s', 'size'], ['r', 'realsize']]) dels.push([`-${l}`, `the soft ${what} limit`], [`-${l!.toUpperCase()}`, `the hard ${what} limit`]);
  dels.push(['-f', "accepted as in MooseFS's command lines; no effect"]);
  tool('delquota', '[-a|-A|-i|-I|-l|-L|-s|-S|-r|-R] [-n|-h|-H|-k|-m|-g] DIRECTORY...', 'delete limits from a directory\'s quota; the quota goes with its last limit', (r, io, a, o) => {
    need(a, 1, 'tsmfs delquota [-a|-A|-i|-I|-l|-L|-s|-S|-r|-R] DIRECTORY...');
    return delquota(r, io, quotaKindsToDelete(o), a);
  }, [...dels, ...fmt]);
  tool('copyquota', '[-n|-h|-H|-k|-m|-g] SRC DST...', 'give each DST the limits and grace period of SRC\'s quota', (r, io, a) => {
    need(a, 2, 'tsmfs copyquota SRC DST...');
    return copyquota(r, io, a[0]!, a.slice(1));
  }, fmt);

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help asked for is success; help shown because no tool was named is a usage error.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof CommanderUsage) {
      process.stderr.write(`tsmfs: ${err.message}\n`);
      return EXIT.usage;
    }
    throw err;
  }
  return code;
}

class CommanderUsage extends Error {
  readonly exitCode = EXIT.usage;
}

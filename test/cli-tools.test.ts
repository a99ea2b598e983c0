/**
 * `tsmfs <tool>` and `tsmfs-cli` on a real mount of a 3-chunkserver cluster: the tools
 * find the master through the mount's .masterinfo, act on st_ino, and print numbers
 * that are checked against what the test made.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, openSync, readdirSync, renameSync, writeSync, closeSync, writeFileSync, statSync, statfsSync, rmSync, linkSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT, runTsmfs, runTsmfsCli } from '@tsmfs/cli';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Cluster, Mount, REPO_ROOT, makeTempDir } from './fixture/cluster.js';
import { until } from './fixture/poll.js';
import { compareSnapshotFlagsWithMooseFS } from './fixture/snapshot-flags-compare.js';
// @ts-expect-error bench/ is plain JavaScript, run by node as it is: no declarations to check against.
import { startMooseFS } from '../bench/lib/moosefs.js';

const FAST_LOOP = { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1, CHUNKSERVER_TIMEOUT: 5 };
const TSMFS_BIN = join(REPO_ROOT, 'packages/cli/dist/bin/tsmfs.js');
const TSMFS_CLI_BIN = join(REPO_ROOT, 'packages/cli/dist/bin/tsmfs-cli.js');

/** MooseFS 3.0 from Debian's packages (scripts/debian-packages.txt, role bench), for the tools' output side by side. */
const MOOSEFS = ['/usr/sbin/mfsmaster', '/usr/bin/mfsmount', '/usr/bin/mfsgetquota'].every((f) => existsSync(f));

/** libuv has no name for EDQUOT (122 on Linux): the error carries the number only. */
const EDQUOT_ERRNO = 122;
const EDQUOT = expect.objectContaining({ errno: -EDQUOT_ERRNO });

/** Runs a tool in this process; returns its exit code and what it printed. */
async function tool(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runTsmfs(argv, { io: (format) => ({ out: (l) => out.push(l), err: (l) => err.push(l), format, progress: false }) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runTsmfsCli(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** Runs a committed binary as a user would (or, given a program that is not a .js file, that program). */
function run(bin: string, args: string[], cwd?: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = bin.endsWith('.js') ? spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd }) : spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

/** The numbers after "label:" in a tool's output. */
function numberAfter(text: string, label: string): number {
  const m = new RegExp(`${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:?\\s+(\\d+)`).exec(text);
  if (!m) throw new Error(`no '${label}' in:\n${text}`);
  return Number(m[1]);
}

function chunkIds(fileinfoOut: string): number[] {
  return [...fileinfoOut.matchAll(/\(id:(\d+) ver:\d+\)/g)].map((m) => Number(m[1]));
}

/** A started MooseFS (bench/lib/moosefs.js). */
interface MooseFS {
  mnt: string;
  ports: { matocl: number };
  stop: () => Promise<void>;
}

/**
 * The same tree on tsmfs (`m`, its master's HTTP port `http`) and on MooseFS 3.0.117, one
 * chunkserver each and no labels anywhere: files with data in goals 1 and 3, in a class
 * keeping two labelled copies (one copy each: endangered) and in a class with archive
 * labels (archived by setarchive: kept by its one archive copy), a sparse file. Compares,
 * step by step, what the goal, trash time, fileinfo, checkfile and archive tools print (stdout and exit code) and what
 * mfscli -SIC prints (plain lines, -m 1, and the terminal table) and mfscli -SSC's plain lines.
 */
async function compareLayoutWithMooseFS(mnt: string, http: number, mfs: MooseFS): Promise<void> {
  const steps: string[][] = [
    ['scadmin', 'MNT', 'create', '-K', 'A,B', 'hot'],
    ['scadmin', 'MNT', 'create', '-C', 'A', '-K', 'A,B', '-A', 'C', '-d', '30', 'cold'],
    ['setsclass', '-r', 'hot', 'MNT/lay/d'],
    ['setgoal', '3', 'MNT/lay/g3'],
    ['setsclass', 'cold', 'MNT/lay/c', 'MNT/lay/c2'],
    ['setsclass', '-r', 'cold', 'MNT/lay/z'],
    ['setsclass', 'hot', 'MNT/lay/z/e1'],
    ['setgoal', '2', 'MNT/lay/z/e2'],
    ['setarchive', 'MNT/lay/c2'],
    ['getgoal', 'MNT/lay/g1', 'MNT/lay/d', 'MNT/lay/d/h', 'MNT/lay/g3', 'MNT/lay/c'],
    ['getgoal', '-r', 'MNT/lay'],
    ['getgoal', '-r', 'MNT/lay/z'],
    ['getsclass', '-r', 'MNT/lay'],
    ['checkfile', 'MNT/lay/d/h', 'MNT/lay/d/e', 'MNT/lay/sp'],
    ['fileinfo', 'MNT/lay/g1', 'MNT/lay/d/e', 'MNT/lay/sp'],
    ['dirinfo', 'MNT/lay/z'],
    ['chkarchive', 'MNT/lay/c', 'MNT/lay/c2', 'MNT/lay/d/e', 'MNT/lay'],
    ['setgoal', '2', 'MNT/lay/d/h'],
    ['setgoal', '2+', 'MNT/lay/d/e'],
    ['setgoal', '1-', 'MNT/lay/z/e1'],
    ['setgoal', '-r', '2+', 'MNT/lay/z'],
    ['copygoal', 'MNT/lay/c', 'MNT/lay/z/e2'],
    ['copygoal', '-r', 'MNT/lay/d', 'MNT/lay/z'],
    ['getgoal', '-r', 'MNT/lay'],
    ['rgetgoal', 'MNT/lay/d'],
    ['rsetgoal', '1', 'MNT/lay/d/e'],
    ['settrashtime', '7200', 'MNT/lay/g1'],
    ['settrashtime', '3600+', 'MNT/lay/g1'],
    ['settrashtime', '-r', '10800', 'MNT/lay/z'],
    ['copytrashtime', 'MNT/lay/g1', 'MNT/lay/g3'],
    ['gettrashtime', '-r', 'MNT/lay'],
    ['setarchive', 'MNT/lay/c'],
    ['setarchive', 'MNT/lay/c'],
    ['chkarchive', 'MNT/lay'],
    ['clrarchive', 'MNT/lay/c2'],
    ['setarchive', 'MNT/lay'],
    ['clrarchive', 'MNT/lay'],
    ['chkarchive', 'MNT/lay', 'MNT/lay/c2'],
    ['setarchive', 'MNT/lay/nope', 'MNT/lay/c'],
  ];
  for (const root of [mnt, mfs.mnt]) {
    mkdirSync(join(root, 'lay/d'), { recursive: true });
    mkdirSync(join(root, 'lay/z'));
    for (const f of ['g1', 'g3', 'c', 'c2', 'd/h']) writeFileSync(join(root, 'lay', f), f);
    for (const f of ['d/e', 'z/e1', 'z/e2']) writeFileSync(join(root, 'lay', f), '');
    // A hole for chunk 0, a chunk at index 1.
    const fd = openSync(join(root, 'lay/sp'), 'w');
    writeSync(fd, Buffer.from('x'), 0, 1, 70_000 * 1024);
    closeSync(fd);
  }
  // MooseFS prints a path's error on stdout, tsmfs on stderr: the error lines are left out.
  // The one chunkserver's address differs (MooseFS's is 0.0.0.0, see bench/lib/moosefs.js).
  const stdout = (text: string, root: string) =>
    text.replaceAll(root, 'MNT').replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'CS').split('\n').filter((l) => !l.startsWith('MNT/lay/nope:')).join('\n').trimEnd();
  const ourSteps: unknown[] = [];
  const theirSteps: unknown[] = [];
  const runStep = async ([name, ...args]: string[]) => {
    const step = [name, ...args].join(' ');
    // Two clusters: both sides at once.
    const [ours, theirs] = await Promise.all([tool(name!, ...args.map((a) => a.replace('MNT', mnt))), run(`/usr/bin/mfs${name}`, args.map((a) => a.replace('MNT', mfs.mnt)))]);
    ourSteps.push({ step, out: stdout(ours.out, mnt), code: ours.code });
    theirSteps.push({ step, out: stdout(theirs.out, mfs.mnt), code: theirs.code });
  };
  // mfscli's plain lines (its output on a pipe), tsmfs-cli's with -p.
  const plainLines = async (section: string, ...args: string[]) => {
    const [ours, theirs] = await Promise.all([cli('-H', '127.0.0.1', '-P', String(http), section, '-p', ...args), run('/usr/bin/mfscli', ['-H', '127.0.0.1', '-P', String(mfs.ports.matocl), section, ...args])]);
    return { ours: ours.out.trimEnd(), theirs: theirs.out.trimEnd() };
  };
  // mfscli's terminal table (script(1) gives it a pty), ASCII frames, colours and CRs taken out.
  const sicTable = async () => {
    const [ours, tty] = await Promise.all([cli('-H', '127.0.0.1', '-P', String(http), '-SIC'), run('/usr/bin/script', ['-qec', `/usr/bin/mfscli -H 127.0.0.1 -P ${mfs.ports.matocl} -SIC -f0`, '/dev/null'])]);
    return { ours: ours.out.split('\n').slice(1).join('\n').trimEnd(), theirs: tty.out.replace(/\x1b\[[0-9;]*m/g, '').replaceAll('\r', '').trimEnd() };
  };
  /** Both sides' -SIC, once they agree (MooseFS counts a chunk's copies a moment after the write). */
  const settled = async (get: () => Promise<{ ours: string; theirs: string }>) => {
    let last: { ours: string; theirs: string } | undefined;
    await until('the same on both', async () => ((last = await get()).ours === last.theirs ? true : undefined), 10_000).catch(() => undefined);
    return last!;
  };
  for (const step of steps.slice(0, 9)) await runStep(step);
  const plain = await settled(() => plainLines('-SIC'));
  // hot d/h, goal 3 g3, cold c: one copy each; c2 archived: kept by its one archive copy.
  expect(plain.ours).toContain('all chunks matrix:\tchunkclass endangered:\t3');
  expect(plain.ours).toBe(plain.theirs);
  const regular = await plainLines('-SIC', '-m', '1');
  expect(regular.ours).toBe(regular.theirs);
  // mfscli -SSC, MooseFS's per-class view: files, directories, chunks under / exact / over goal.
  const perClass = await settled(() => plainLines('-SSC'));
  expect(perClass.ours).toContain('storage classes:\t11\tcold\tNO\tSTD\t2\t1\t1\t0\t-\t-\t1\t-\tNO\t1\tA\tNO\t2\tA , B\tNO\t1\tC\t30d');
  expect(perClass.ours).toBe(perClass.theirs);
  const table = await sicTable();
  expect(table.ours).toBe(table.theirs);
  for (const step of steps.slice(9)) await runStep(step);
  expect(ourSteps).toEqual(theirSteps);
  // Not vacuous: the hole is there, and the chunk after it (holes count in mfscheckfile too).
  expect(JSON.stringify(ourSteps)).toMatch(/MNT\/lay\/sp:\\n\\tchunk 0: empty\\n\\tchunk 1: 0+6_00000001 \/ \(id:6 ver:1\)\\n\\t\\tcopy 1: CS \(status:VALID\)/);
  expect(JSON.stringify(ourSteps)).toContain(' empty (zero) chunks:             1');
  // Archived (setarchive lay, clrarchive lay): every cold chunk is back on its two keep copies.
  for (const section of ['-SIC', '-SSC']) {
    const after = await settled(() => plainLines(section));
    expect(after.ours).toBe(after.theirs);
  }
}

/** What each side names an error by: the errno's name here, its strerror text in MooseFS's tools. */
const ERRNO_TEXT: Record<string, RegExp> = { EEXIST: /EEXIST|file exists/i, EINVAL: /EINVAL|invalid argument/i, ENOENT: /ENOENT|no such file or directory/i, EPERM: /EPERM|operation not permitted/i };

/**
 * The extra-attribute, snapshot, appendchunks, filerepair and deprecated r* trash time
 * tools side by side with MooseFS 3.0.117's on the same tree (`ea`): stdout, the exit
 * status as success or failure, and for a refused step the errno both name. The errors'
 * texts and codes are tsmfs's own (docs/cli.md, "Exit codes"): a failing step is compared
 * by what failed and why, not by MooseFS's wording or its 255.
 */
async function compareEattrSnapshotToolsWithMooseFS(mnt: string, mfs: MooseFS): Promise<void> {
  // [tool, args…]; a step whose last element is an errno name must fail with that errno on both.
  const steps: string[][] = [
    ['geteattr', 'MNT/ea/f'],
    ['seteattr', '-f', 'noowner', '-f', 'noattrcache', '-f', 'nodatacache', 'MNT/ea/f'],
    ['seteattr', '-f', 'noowner', 'MNT/ea/f'],
    // noentrycache is a directory's: not changed on a file, files counted as not changed
    // by -r, inherited by a new directory only (docs/master.md, "Extra attributes").
    ['seteattr', '-f', 'noentrycache', 'MNT/ea/f'],
    ['seteattr', '-r', '-f', 'noentrycache', 'MNT/ea/d'],
    ['sh', 'touch d/nf && mkdir d/nd'],
    ['geteattr', 'MNT/ea/f', 'MNT/ea/d', 'MNT/ea/d/h', 'MNT/ea/d/nf', 'MNT/ea/d/nd'],
    ['deleattr', '-r', '-f', 'noentrycache', 'MNT/ea/d'],
    ['sh', 'rm d/nf && rmdir d/nd'],
    ['geteattr', 'MNT/ea/f', 'MNT/ea/g'],
    ['geteattr', '-r', 'MNT/ea/f'],
    ['seteattr', '-r', '-f', 'noowner', '-f', 'noattrcache', 'MNT/ea/d'],
    ['seteattr', '-n', '-r', '-f', 'noowner', 'MNT/ea/d'],
    ['geteattr', '-r', 'MNT/ea'],
    ['deleattr', '-f', 'noowner', 'MNT/ea/f', 'MNT/ea/g'],
    ['deleattr', '-r', '-f', 'noowner', 'MNT/ea/d'],
    ['copyeattr', 'MNT/ea/f', 'MNT/ea/g'],
    ['copyeattr', '-r', 'MNT/ea/f', 'MNT/ea/d'],
    ['geteattr', '-r', 'MNT/ea'],
    ['seteattr', '-r', '-f', 'undeletable', 'MNT/ea/d'],
    ['deleattr', '-r', '-f', 'undeletable', 'MNT/ea/d'],
    ['geteattr', 'MNT/ea/nope', 'MNT/ea/f', 'ENOENT'],
    ['seteattr', '-f', 'nosuch', 'MNT/ea/f', 'usage'],
    ['copyeattr', 'MNT/ea/f', 'usage'],
    ['makesnapshot', 'MNT/ea/f', 'MNT/ea/snap'],
    ['makesnapshot', 'MNT/ea/f', 'MNT/ea/snap', 'EEXIST'],
    ['makesnapshot', '-o', 'MNT/ea/f', 'MNT/ea/snap'],
    ['makesnapshot', 'MNT/ea/f', 'MNT/ea/g', 'MNT/ea/d'],
    ['makesnapshot', 'MNT/ea/f', 'MNT/ea/g', 'MNT/ea/nodir', 'usage'],
    ['makesnapshot', 'MNT/ea/d', 'MNT/ea/dsnap'],
    ['makesnapshot', 'MNT/ea/nope', 'MNT/ea/x', 'ENOENT'],
    ['makesnapshot', 'MNT/ea/d', 'MNT/ea/d/s', 'EINVAL'],
    // -o merges a directory into the one of its name, replaces a file; a directory onto a file is EPERM.
    ['makesnapshot', '-o', 'MNT/ea/d/s', 'MNT/ea/dsnap'],
    ['makesnapshot', '-o', 'MNT/ea/f', 'MNT/ea/d/h'],
    ['makesnapshot', '-o', 'MNT/ea/d', 'MNT/ea/f', 'EPERM'],
    ['makesnapshot', 'MNT/ea/d/', 'MNT/ea/s3/'],
    ['deleattr', '-f', 'snapshot', 'MNT/ea/s3/h'],
    // A tree holding a node not made by a snapshot: refused whole without -f.
    ['rmsnapshot', 'MNT/ea/s3', 'EPERM'],
    ['rmsnapshot', 'MNT/ea/f', 'EPERM'],
    ['geteattr', '-r', 'MNT/ea/s3'],
    // A snapshot's directory whose entries change, or file whose length changes, is no longer the snapshot's.
    ['sh', 'makesnapshot d s4 && echo z >> s4/h && touch s4/s/new && mv s4/s/i s4/i'],
    ['geteattr', 'MNT/ea/s4', 'MNT/ea/s4/s', 'MNT/ea/s4/h', 'MNT/ea/s4/i', 'MNT/ea/s4/s/new'],
    ['rmsnapshot', 'MNT/ea/s4', 'EPERM'],
    ['geteattr', '-r', 'MNT/ea/dsnap'],
    ['geteattr', 'MNT/ea/dsnap/f', 'MNT/ea/snap'],
    ['rmsnapshot', 'MNT/ea/dsnap'],
    ['rmsnapshot', 'MNT/ea/nope', 'ENOENT'],
    ['appendchunks', 'MNT/ea/g', 'MNT/ea/big', 'MNT/ea/f'],
    // A destination that does not exist is made (mfsappendchunks opens it with O_CREAT).
    ['appendchunks', 'MNT/ea/new', 'MNT/ea/f'],
    ['appendchunks', 'MNT/ea/g', 'MNT/ea/nope', 'ENOENT'],
    ['filerepair', 'MNT/ea/big', 'MNT/ea/g', 'MNT/ea/new'],
    ['filerepair', 'MNT/ea/nope', 'ENOENT'],
    ['rsettrashtime', '7200', 'MNT/ea/d'],
    ['rgettrashtime', 'MNT/ea/d'],
    ['rsettrashtime', '3600-', 'MNT/ea'],
    ['rgettrashtime', 'MNT/ea'],
  ];
  for (const root of [mnt, mfs.mnt]) {
    mkdirSync(join(root, 'ea/d/s'), { recursive: true });
    for (const f of ['f', 'g', 'd/h', 'd/s/i']) writeFileSync(join(root, 'ea', f), f);
    writeFileSync(join(root, 'ea/big'), Buffer.alloc(100_000, 1));
  }
  const ourSteps: unknown[] = [];
  const theirSteps: unknown[] = [];
  for (const [name, ...rest] of steps) {
    // Changes through the mounts, in ea/ (makesnapshot: each side's own tool).
    if (name === 'sh') {
      await Promise.all([
        run('/bin/sh', ['-ec', rest[0]!.replace('makesnapshot', `${process.execPath} ${TSMFS_BIN} makesnapshot`)], join(mnt, 'ea')),
        run('/bin/sh', ['-ec', rest[0]!.replace('makesnapshot', '/usr/bin/mfsmakesnapshot')], join(mfs.mnt, 'ea')),
      ]).then((codes) => expect(codes.map((r) => r.code)).toEqual([0, 0]));
      continue;
    }
    const refused = /^(E[A-Z]+|usage)$/.test(rest.at(-1)!) ? rest.pop() : undefined;
    const step = [name, ...rest].join(' ');
    const [ours, theirs] = await Promise.all([tool(name!, ...rest.map((a) => a.replace('MNT', mnt))), run(`/usr/bin/mfs${name}`, rest.map((a) => a.replace('MNT', mfs.mnt)))]);
    const oursOut = ours.out.replaceAll(mnt, 'MNT');
    const theirsOut = theirs.out.replaceAll(mfs.mnt, 'MNT').trimEnd();
    // The r* tools' word on stderr names the tool to use instead: mfs… there, tsmfs … here.
    const word = (err: string) => err.replace(/"mfs(\w+)/, '"tsmfs $1').trim();
    if (!refused) {
      ourSteps.push({ step, out: oursOut, code: ours.code, err: name!.startsWith('r') ? word(ours.err) : '' });
      theirSteps.push({ step, out: theirsOut, code: theirs.code, err: name!.startsWith('r') ? word(theirs.err) : '' });
      continue;
    }
    // MooseFS prints a path's error on stdout (usage on stderr), tsmfs both on stderr: the other lines must agree.
    const errorLine = /MNT\/ea\/nope|->|: (error|EEXIST|EINVAL|Operation not permitted)|only into existing directory/;
    const others = (text: string) => text.split('\n').filter((l) => l !== '' && !errorLine.test(l)).join('\n');
    const reason = (text: string) => (refused === 'usage' ? 'usage' : ERRNO_TEXT[refused]!.test(text) ? refused : text);
    ourSteps.push({ step, out: others(oursOut), failed: ours.code !== 0, why: refused === 'usage' ? (ours.code === EXIT.usage ? 'usage' : ours.err) : reason(ours.err) });
    theirSteps.push({ step, out: others(theirsOut), failed: theirs.code !== 0, why: reason(`${theirs.out}${theirs.err}`) });
  }
  expect(ourSteps).toEqual(theirSteps);
  // Not vacuous: the snapshot is marked, the appended file shares the source's chunks.
  expect(JSON.stringify(ourSteps)).toContain('MNT/ea/dsnap/f: noattrcache,nodatacache,snapshot');
  // The mount caches attributes for a moment: the new length shows once that expires.
  await until('the appended length', async () => (statSync(join(mnt, 'ea/new')).size === 1 ? true : undefined), 10_000);
  expect(chunkIds((await tool('fileinfo', join(mnt, 'ea/new'))).out)).toEqual(chunkIds((await tool('fileinfo', join(mnt, 'ea/f'))).out));
}

/**
 * MooseFS's number formats (man mfstools, "GENERAL OPTIONS") side by side: every tool that
 * takes -n|-h|-H|-k|-m|-g, with each of them and with MFSHRFORMAT=3 and 4 (both forms), on
 * the same tree (`nf`): 1100 files (counts past 1000: 1.1Ki, 1.1k, 1 with -k), a sparse
 * file of 1.5 TiB, a chunk of data, a quota with limits from bytes to pebibytes. Also the
 * order rules (-k before or after -h, -g before -n) and a bundle (-rh). Stdout compared.
 */
async function compareNumberFormatsWithMooseFS(mnt: string, mfs: MooseFS): Promise<void> {
  for (const root of [mnt, mfs.mnt]) {
    mkdirSync(join(root, 'nf/many'), { recursive: true });
    mkdirSync(join(root, 'nf2'));
    for (let i = 0; i < 1100; i++) writeFileSync(join(root, `nf/many/f${i}`), '');
    writeFileSync(join(root, 'nf/data'), Buffer.alloc(100_000, 1));
    writeFileSync(join(root, 'nf/sparse'), '');
    truncateSync(join(root, 'nf/sparse'), 1.5 * 2 ** 40);
  }
  // Each side's quota, both at once (MooseFS's tools read the limits as doubles: values it keeps exactly).
  // Realsize stays under its limits: MooseFS refuses to raise a goal past them (setgoal -r 2 below).
  const quota = ['-i', '1023', '-I', '1100', '-l', '999', '-L', '1.5Ti', '-s', '123456789', '-S', '1023488', '-r', '985000000', '-R', '3Pi'];
  // [tool, args…] with F where the format flag goes; the tools' paths start with MNT.
  const steps: string[][] = [
    ['dirinfo', 'F', 'MNT/nf', 'MNT/nf/sparse'],
    ['setquota', 'F', ...quota, 'MNT/nf'],
    ['getquota', 'F', 'MNT/nf'],
    ['copyquota', 'F', 'MNT/nf', 'MNT/nf2'],
    ['delquota', 'F', '-l', '-R', 'MNT/nf2'],
    ['getgoal', '-r', 'F', 'MNT/nf'],
    ['setgoal', '-r', 'F', '2', 'MNT/nf'],
    ['copygoal', '-r', 'F', 'MNT/nf/data', 'MNT/nf'],
    ['rgetgoal', 'F', 'MNT/nf'],
    ['rsetgoal', 'F', '1', 'MNT/nf'],
    ['gettrashtime', '-r', 'F', 'MNT/nf'],
    ['settrashtime', '-r', 'F', '3600', 'MNT/nf'],
    ['copytrashtime', '-r', 'F', 'MNT/nf/data', 'MNT/nf'],
    ['rgettrashtime', 'F', 'MNT/nf'],
    ['rsettrashtime', 'F', '7200', 'MNT/nf'],
    ['seteattr', '-r', 'F', '-f', 'noowner', 'MNT/nf'],
    ['geteattr', '-r', 'F', 'MNT/nf'],
    ['copyeattr', '-r', 'F', 'MNT/nf2', 'MNT/nf'],
    ['deleattr', '-r', 'F', '-f', 'noowner', 'MNT/nf'],
    ['getsclass', '-r', 'F', 'MNT/nf'],
    ['setsclass', '-r', 'F', '3', 'MNT/nf'],
    ['xchgsclass', '-r', 'F', '3', '1', 'MNT/nf'],
    ['copysclass', '-r', 'F', 'MNT/nf2', 'MNT/nf'],
    ['setarchive', 'F', 'MNT/nf'],
    ['chkarchive', 'F', 'MNT/nf'],
    ['clrarchive', 'F', 'MNT/nf'],
    ['checkfile', 'F', 'MNT/nf/data', 'MNT/nf/sparse'],
    ['filerepair', 'F', 'MNT/nf/data', 'MNT/nf/sparse'],
  ];
  // [flags, MFSHRFORMAT]
  const formats: [string[], string | undefined][] = [[[], undefined], [['-n'], undefined], [['-h'], undefined], [['-H'], undefined], [['-k'], undefined], [['-m'], undefined], [['-g'], undefined], [[], '3'], [[], '4']];
  // Which flag wins: on a few tools only.
  const orders: [string[], string | undefined][] = [[['-k'], '3'], [['-h', '-k'], undefined], [['-k', '-h'], undefined], [['-g', '-n'], undefined]];
  const orderSteps = new Set(['dirinfo', 'getquota', 'getgoal']);
  const ours = async (argv: string[], hrformat: string | undefined) => {
    const out: string[] = [];
    await runTsmfs(argv, { io: (format) => ({ out: (l) => out.push(l), err: () => {}, format, progress: false }), hrformat });
    // tsmfs's dirinfo shows a directory's quota too (docs/cli.md); MooseFS 3.0's does not.
    const lines = argv[0] === 'dirinfo' ? out.filter((l, i) => !out.slice(Math.max(0, i - 4), i + 1).some((q) => q.startsWith(' quota: ('))) : out;
    return lines.join('\n').replaceAll(mnt, 'MNT');
  };
  const theirs = (argv: string[], hrformat: string | undefined) =>
    new Promise<string>((resolve) => {
      const env = { ...process.env };
      if (hrformat === undefined) delete env.MFSHRFORMAT;
      else env.MFSHRFORMAT = hrformat;
      const p = spawn(`/usr/bin/mfs${argv[0]}`, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'], env });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('close', () => resolve(out.replaceAll(mfs.mnt, 'MNT').trimEnd()));
    });
  const side = (argv: string[], root: string) => argv.map((a) => a.replace('MNT', root));
  // The masters count the new files' data a moment after the writes.
  await until('the same dirinfo', async () => ((await ours(side(['dirinfo', 'MNT/nf'], mnt), undefined)) === (await theirs(side(['dirinfo', 'MNT/nf'], mfs.mnt), undefined)) ? true : undefined), 10_000).catch(() => undefined);
  const ourSteps: unknown[] = [];
  const theirSteps: unknown[] = [];
  for (const [flags, hrformat] of [...formats, ...orders]) {
    for (const step of formats.some((f) => f[0] === flags) ? steps : steps.filter((st) => orderSteps.has(st[0]!))) {
      const argv = step.flatMap((a) => (a === 'F' ? flags : [a]));
      const label = `${hrformat === undefined ? '' : `MFSHRFORMAT=${hrformat} `}${argv.join(' ')}`;
      const [o, t] = await Promise.all([ours(side(argv, mnt), hrformat), theirs(side(argv, mfs.mnt), hrformat)]);
      ourSteps.push({ step: label, out: o });
      theirSteps.push({ step: label, out: t });
    }
  }
  // A bundle of -r and a format flag, as getopt reads it.
  const [o, t] = await Promise.all([ours(side(['getgoal', '-rh', 'MNT/nf'], mnt), undefined), theirs(side(['getgoal', '-rh', 'MNT/nf'], mfs.mnt), undefined)]);
  ourSteps.push({ step: 'getgoal -rh', out: o });
  theirSteps.push({ step: 'getgoal -rh', out: t });
  expect(ourSteps).toEqual(theirSteps);
  // Not vacuous: the counts and sizes past each prefix's threshold are there.
  const text = JSON.stringify(ourSteps);
  expect(text).toContain(' files with goal                1 :  1.1Ki');
  expect(text).toContain(' length   | 1.5TiB |   999B | 1.5TiB |');
  expect(text).toContain(' realsize | 139kB | 985MB | 3.4PB |');
  expect(text).toContain(`${' length:'}${'1536'.padStart(18)}`);
  // The quotas go: the test lists the cluster's quotas later.
  const drop = ['delquota', '-a', '-A', 'MNT/nf', 'MNT/nf2'];
  await Promise.all([ours(side(drop, mnt), undefined), theirs(side(drop, mfs.mnt), undefined)]);
}

describe('tsmfs tools on a mount', () => {
  it('setgoal -r, getgoal -r, fileinfo, checkfile, dirinfo; a dead chunkserver shows as missing copies', async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    const servers = await c.addChunkservers(3);
    const m = await c.mount();
    const d = join(m.path, 'tree');
    for (const sub of ['a', 'b', 'c']) mkdirSync(join(d, sub), { recursive: true });
    const KiB100 = Buffer.alloc(100 * 1024, 1);
    for (const f of ['a/f1', 'a/f2', 'b/f3']) writeFileSync(join(d, f), KiB100);

    const set = await tool('setgoal', '-r', '3', d);
    expect(set.code).toBe(EXIT.ok);
    // tree, a, b, c, f1, f2, f3
    expect(numberAfter(set.out, 'inodes with goal changed')).toBe(7);
    expect(numberAfter(set.out, 'inodes with goal not changed')).toBe(0);
    expect(numberAfter(set.out, 'inodes with permission denied')).toBe(0);

    const get = await tool('getgoal', '-r', d);
    expect(get.out).toMatch(/files with goal\s+3 :\s+3/);
    expect(get.out).toMatch(/directories with goal\s+3 :\s+4/);
    expect((await tool('getgoal', join(d, 'a/f1'))).out).toBe(`${join(d, 'a/f1')}: 3`);
    // copygoal: c (and, with -r, what it holds) takes a/f1's goal; copygoal from a goal-2 file back.
    writeFileSync(join(d, 'c/g'), ''); // empty: no chunk to count in the health matrix below
    expect((await tool('setgoal', '2', join(d, 'c/g'))).out).toBe(`${join(d, 'c/g')}: goal: 2`);
    // As mfscopygoal: the source's goal, then each destination's.
    expect((await tool('copygoal', join(d, 'c/g'), join(d, 'b'))).out).toBe(`${join(d, 'c/g')}: 2\n${join(d, 'b')}: goal: 2`);
    expect((await tool('getgoal', join(d, 'b/f3'))).out).toBe(`${join(d, 'b/f3')}: 3`);
    const copied = await tool('copygoal', '-r', join(d, 'c/g'), join(d, 'b'));
    expect(numberAfter(copied.out, 'inodes with goal changed')).toBe(1);
    expect(numberAfter(copied.out, 'inodes with goal not changed')).toBe(1);
    expect((await tool('copygoal', '-r', join(d, 'a/f1'), join(d, 'b'))).code).toBe(EXIT.ok);
    expect((await tool('getgoal', join(d, 'b/f3'))).out).toBe(`${join(d, 'b/f3')}: 3`);
    expect((await tool('copygoal', join(d, 'nope'), join(d, 'b'))).code).not.toBe(EXIT.ok);
    expect((await tool('copygoal', join(d, 'c/g'))).code).toBe(EXIT.usage);
    rmSync(join(d, 'c/g'));

    const f1 = join(d, 'a/f1');
    const info = await until('3 valid copies', async () => {
      const r = await tool('fileinfo', f1);
      return (r.out.match(/status:VALID/g) ?? []).length === 3 ? r.out : undefined;
    });
    expect(info).toMatch(/^.*:\n\tchunk 0: [0-9A-F]{16}_[0-9A-F]{8} \/ \(id:\d+ ver:\d+\)\n(\t\tcopy \d: 127\.0\.0\.1:\d+ \(status:VALID\)\n?){3}$/);
    const ports = [...info.matchAll(/127\.0\.0\.1:(\d+)/g)].map((x) => Number(x[1])).sort();
    expect(ports).toEqual(servers.map((s) => s.port).sort());
    expect(numberAfter((await tool('checkfile', f1)).out, 'chunks with 3 copies')).toBe(1);

    const di = await tool('dirinfo', d);
    expect(numberAfter(di.out, 'inodes')).toBe(7);
    expect(numberAfter(di.out, 'directories')).toBe(4);
    expect(numberAfter(di.out, 'files')).toBe(3);
    expect(numberAfter(di.out, 'chunks')).toBe(3);
    expect(numberAfter(di.out, 'length')).toBe(3 * 100 * 1024);
    // Two 64 KiB blocks and the chunk's 8 KiB header each, as MooseFS counts a chunk's size.
    expect(numberAfter(di.out, 'size')).toBe(3 * 136 * 1024);
    expect(numberAfter(di.out, 'realsize')).toBe(3 * 3 * 136 * 1024);
    expect((await tool('dirinfo', '-h', d)).out).toMatch(/length:\s+300Ki/);

    // Every chunk at goal before the kill, so that exactly one copy of each goes missing.
    await until('all chunks at goal', async () => {
      const r = await cli('-P', String(c.master.ports.http), '-SIC', '--json');
      return JSON.parse(r.out).IC.matrix[3][3] === 3 ? true : undefined;
    });
    await servers[0]!.kill('SIGKILL');
    const health = await until('missing copies in -SIC', async () => {
      const r = await cli('-P', String(c.master.ports.http), '-SIC', '--json');
      const h = JSON.parse(r.out).IC;
      return h.matrix[3][2] === 3 ? h : undefined;
    });
    expect(health.underGoal).toBe(3);
    expect(numberAfter((await tool('checkfile', f1)).out, 'chunks with 2 copies')).toBe(1);
    const after = (await tool('fileinfo', f1)).out;
    expect((after.match(/status:VALID/g) ?? []).length).toBe(2);
    expect(after).not.toContain(`:${servers[0]!.port} `);

    // tsmfs-cli as a user runs it: tables with the chunkservers, one offline.
    const text = await run(TSMFS_CLI_BIN, ['-H', '127.0.0.1', '-P', String(c.master.ports.http), '-SCS', '-SHD', '-SIC', '-SMU', '-SIN', '-SEX']);
    expect(text.code).toBe(0);
    expect(text.out).toContain('chunkservers:');
    for (const s of servers) expect(text.out).toContain(`127.0.0.1:${s.port}`);
    expect(text.out).toMatch(/OFFLINE/);
    expect(text.out).toMatch(/ undergoal: 3 \/ /);
    expect(text.out).toContain(m.path);
    // As with mfscli, -P may be the master's client port: the same tables, read from the
    // HTTP port its handshake names. A port that is neither fails with the master exit code.
    const viaClientPort = await run(TSMFS_CLI_BIN, ['-H', '127.0.0.1', '-P', String(c.master.ports.matocl), '-SCS', '-SHD', '-SIC', '-SMU', '-SIN', '-SEX']);
    expect(viaClientPort.code).toBe(0);
    expect(viaClientPort.out).toContain('chunkservers:');
    for (const s of servers) expect(viaClientPort.out).toContain(`127.0.0.1:${s.port}`);
    expect(viaClientPort.out).toContain(m.path);
    expect((await run(TSMFS_CLI_BIN, ['-H', '127.0.0.1', '-P', String(servers[1]!.port), '-SIN'])).code).toBe(EXIT.master);
  });

  it('filepaths: every name of a file, by path or by inode; the trash path once removed; nothing outside a subfolder mount; quotas: EDQUOT at the limits, statfs of the subfolder mount; goal, class and archive tools and -SIC; makesnapshot -c/-p and appendchunks -s; output as MooseFS 3.0 prints it', async () => {
    // MooseFS 3.0 (Debian's packages; CI installs them) for the tools' output side by side,
    // started while tsmfs starts; one chunkserver, as the tsmfs cluster here.
    // Its own temp dir: the fixture removes its dirs before onTestFinished stops MooseFS.
    const mfsDir = mkdtempSync(join(tmpdir(), 'tsmfs-moosefs-'));
    const mfsStarting: Promise<MooseFS> | undefined = MOOSEFS ? startMooseFS(mfsDir, { chunkservers: 1, goal: 1 }) : undefined;
    onTestFinished(async () => {
      await (await mfsStarting?.catch(() => undefined))?.stop();
      rmSync(mfsDir, { recursive: true, force: true });
    });
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    await c.addChunkservers(1);
    const m = await c.mount();
    // First, while the two clusters hold nothing else (-SIC counts every chunk).
    if (mfsStarting) {
      await compareLayoutWithMooseFS(m.path, c.master.ports.http, await mfsStarting);
      await compareEattrSnapshotToolsWithMooseFS(m.path, await mfsStarting);
      await compareNumberFormatsWithMooseFS(m.path, await mfsStarting);
      // makesnapshot -c runs as a user: the MooseFS mount's directory must let it through.
      chmodSync(mfsDir, 0o755);
      await compareSnapshotFlagsWithMooseFS(
        { mnt: m.path, tool: `${process.execPath} ${TSMFS_BIN}`, asRoot: (name, args) => tool(name, ...args) },
        { mnt: (await mfsStarting).mnt, tool: 'cmd=$1; shift; /usr/bin/mfs$cmd', asRoot: (name, args) => run(`/usr/bin/mfs${name}`, args) },
      );
    }
    else console.warn('skipped the comparison with MooseFS 3.0: not installed (apt-get install moosefs-master moosefs-client)');
    mkdirSync(join(m.path, 'pub/a'), { recursive: true });
    mkdirSync(join(m.path, 'priv'));
    const f = join(m.path, 'pub/a/f');
    writeFileSync(f, 'x');
    linkSync(f, join(m.path, 'pub/g'));
    linkSync(f, join(m.path, 'priv/h'));
    const ino = statSync(f).ino;
    const names = ['priv/h', 'pub/a/f', 'pub/g'].map((p) => `\t${join(m.path, p)}`);
    expect((await tool('filepaths', f)).out).toBe([`${f}:`, ...names].join('\n'));
    // An inode number, from a directory of the mount (as mfsfilepaths), through the installed command.
    expect(await run(TSMFS_BIN, ['filepaths', String(ino)], join(m.path, 'pub'))).toEqual({ code: 0, out: [`${ino}:`, ...names, ''].join('\n'), err: '' });
    // A mount of /pub sees the names under /pub only, relative to itself.
    const sub = await c.mount({ subdir: '/pub' });
    expect((await tool('filepaths', join(sub.path, 'g'))).out).toBe([`${join(sub.path, 'g')}:`, `\t${join(sub.path, 'a/f')}`, `\t${join(sub.path, 'g')}`].join('\n'));
    // Removed with a trash time: where its last name was.
    const s = await c.session();
    await s.settrashtime(ino, 3600);
    for (const p of ['pub/a/f', 'pub/g', 'priv/h']) rmSync(join(m.path, p));
    expect(await run(TSMFS_BIN, ['filepaths', String(ino)], m.path)).toEqual({ code: 0, out: `${ino}:\n\ttrash: ${join(m.path, 'priv/h')}\n`, err: '' });
    // ... which lies outside /pub: the subfolder mount learns nothing of it.
    const outside = await run(TSMFS_BIN, ['filepaths', String(ino)], sub.path);
    expect(outside.code).not.toBe(0);
    expect(outside.out).toBe('');

    // Quotas (docs/master.md, "Quotas"). /pub holds a/: 1 inode (a quota directory does not count itself, as in MooseFS).
    const pub = join(m.path, 'pub');
    const set = await tool('setquota', '-I', '4', '-L', '1Mi', pub);
    expect(set.code).toBe(EXIT.ok);
    expect(set.out).toBe(
      [
        `${pub}: (current values | soft quota | hard quota) ; soft quota grace period: default`,
        ` inodes   | ${'1'.padStart(20)} | ${'-'.padStart(20)} | ${'4'.padStart(20)} |`,
        ` length   | ${'0'.padStart(20)} | ${'-'.padStart(20)} | ${'1048576'.padStart(20)} |`,
        ` size     | ${'0'.padStart(20)} | ${'-'.padStart(20)} | ${'-'.padStart(20)} |`,
        ` realsize | ${'0'.padStart(20)} | ${'-'.padStart(20)} | ${'-'.padStart(20)} |`,
      ].join('\n'),
    );
    // The mount of /pub reports the quota as its size (as MooseFS's statfs does).
    const st = statfsSync(sub.path);
    expect(st.blocks * st.bsize).toBe(1024 * 1024);
    expect(st.bavail * st.bsize).toBe(1024 * 1024);
    // Inodes: exactly at the limit, then EDQUOT for a file, a directory, a name moved in.
    writeFileSync(join(sub.path, 'x1'), '');
    mkdirSync(join(sub.path, 'x2'));
    writeFileSync(join(sub.path, 'x3'), '');
    expect(() => writeFileSync(join(sub.path, 'x4'), '')).toThrow(EDQUOT);
    expect(() => mkdirSync(join(sub.path, 'x4'))).toThrow(EDQUOT);
    writeFileSync(join(m.path, 'priv/y'), '');
    expect(() => renameSync(join(m.path, 'priv/y'), join(pub, 'y'))).toThrow(EDQUOT);
    // Length: up to the limit, then a write past it fails with EDQUOT and the length stays.
    const x1 = join(sub.path, 'x1');
    writeFileSync(x1, Buffer.alloc(1024 * 1024, 7));
    expect(() => appendFileSync(x1, 'z')).toThrow(EDQUOT);
    expect(statSync(x1).size).toBe(1024 * 1024);
    expect(() => truncateSync(x1, 1024 * 1024 + 1)).toThrow(EDQUOT);
    const full = statfsSync(sub.path);
    expect(full.bavail).toBe(0);
    const got = await tool('getquota', pub);
    expect(got.out).toContain(` length   | ${'1048576'.padStart(20)} |`);
    expect((await tool('dirinfo', pub)).out).toContain(` inodes   | ${'4'.padStart(20)} | ${'-'.padStart(20)} | ${'4'.padStart(20)} |`);
    const listed = JSON.parse((await cli('-P', String(c.master.ports.http), '-SQU', '--json')).out).QU;
    expect(listed).toEqual([expect.objectContaining({ path: '/pub', exceeded: 'hard', usage: { inodes: 4, length: 1024 * 1024, size: 1024 * 1024 + 8192, realsize: 1024 * 1024 + 8192 } })]);
    expect((await cli('-P', String(c.master.ports.http), '-SQU')).out).toMatch(/\n\/pub\s+hard\s+default\s+-\s+4\s+-\s+4\s+1\.00 MiB\s+-\s+1\.00 MiB\s/);
    // Deleting the limit lifts it. The refused byte is not there: growing the file shows a zero.
    expect((await tool('delquota', '-L', pub)).code).toBe(EXIT.ok);
    truncateSync(x1, 1024 * 1024 + 1);
    expect(readFileSync(x1).subarray(1024 * 1024)).toEqual(Buffer.from([0]));
    appendFileSync(x1, 'z');

    // A soft limit with a short grace period: passed at first, refused once the grace has run out.
    const soft = join(m.path, 'soft');
    mkdirSync(soft);
    expect((await tool('setquota', '-i', '2', '-p', '1', soft)).out).toContain('soft quota grace period: 1 seconds');
    writeFileSync(join(soft, 'a'), '');
    writeFileSync(join(soft, 'b'), '');
    let n = 0;
    const refused = await until('the soft limit acting as hard', async () => {
      try {
        writeFileSync(join(soft, `t${n++}`), '');
        return undefined;
      } catch (err) {
        return (err as NodeJS.ErrnoException).errno;
      }
    }, 10_000);
    expect(refused).toBe(-EDQUOT_ERRNO);
    for (const name of readdirSync(soft)) rmSync(join(soft, name));
    writeFileSync(join(soft, 'again'), '');

    // Side by side with MooseFS 3.0 on the same tree: the same lines from setquota,
    // getquota and delquota.
    if (!mfsStarting) return;
    const mfs = await mfsStarting;
    for (const root of [m.path, mfs.mnt]) {
      mkdirSync(join(root, 'cmp/a'), { recursive: true });
      writeFileSync(join(root, 'cmp/a/f'), '');
    }
    const steps = [['getquota'], ['setquota', '-I', '4', '-L', '1048576'], ['setquota', '-i', '3', '-p', '60'], ['setquota', '-S', '1Gi', '-r', '5k'], ['getquota'], ['delquota', '-L', '-r'], ['delquota', '-a', '-A'], ['getquota']];
    for (const [name, ...args] of steps) {
      const step = [name, ...args].join(' ');
      const ours = await tool(name!, ...args, join(m.path, 'cmp'));
      const theirs = await run(`/usr/bin/mfs${name}`, [...args, join(mfs.mnt, 'cmp')]);
      expect({ step, out: ours.out.replaceAll(m.path, 'MNT') }).toEqual({ step, out: theirs.out.replaceAll(mfs.mnt, 'MNT').trimEnd() });
      if (step !== 'setquota -S 1Gi -r 5k') continue;
      // copyquota SRC DST while SRC has soft and hard limits and its own grace period.
      for (const root of [m.path, mfs.mnt]) mkdirSync(join(root, 'cmp2'));
      const oursCopy = await tool('copyquota', join(m.path, 'cmp'), join(m.path, 'cmp2'));
      const theirsCopy = await run('/usr/bin/mfscopyquota', [join(mfs.mnt, 'cmp'), join(mfs.mnt, 'cmp2')]);
      expect(oursCopy.out.replaceAll(m.path, 'MNT')).toBe(theirsCopy.out.replaceAll(mfs.mnt, 'MNT').trimEnd());
    }
    // Storage classes (docs/master.md, "Storage classes"): the same lines from scadmin and
    // the sclass tools, MNT standing for the mount point. A refused step is compared up to
    // its reason (errno names here, strerror texts there).
    const sclassSteps = [
      ['scadmin', 'MNT', 'create', '-K', 'A,B', 'fast'],
      ['scadmin', 'MNT', 'create', '-m', 's', '-C', '2A', '-K', 'A,B[X+Y]', '-A', 'C', '-d', '7', 'arch'],
      ['scadmin', 'MNT', 'create', '2', 'two', 'deux'],
      ['scadmin', 'MNT', 'create', '-a', '1', '-K', 'A', 'fast'],
      ['scadmin', 'MNT', 'list'],
      ['scadmin', 'MNT', 'list', '-l'],
      ['listsclass', 'MNT'],
      ['scadmin', 'MNT', 'change', '-K', 'B,C', '-m', 'l', 'fast'],
      ['scadmin', 'MNT', 'change', '-K', 'B', '3'],
      ['scadmin', 'MNT', 'copy', 'fast', 'fast2'],
      ['scadmin', 'MNT', 'rename', 'fast2', 'fast3'],
      ['scadmin', 'MNT', 'delete', 'fast3', 'deux'],
      ['listsclass', '-l', 'MNT'],
      ['setsclass', 'fast', 'MNT/cmp/a/f'],
      ['getsclass', 'MNT/cmp/a/f'],
      ['setsclass', '-r', 'two', 'MNT/cmp'],
      ['getsclass', '-r', 'MNT/cmp'],
      ['xchgsclass', 'two', 'fast', 'MNT/cmp/a/f'],
      ['xchgsclass', 'two', 'fast', 'MNT/cmp/a/f'],
      ['copysclass', 'MNT/cmp/a/f', 'MNT/cmp/a'],
      ['getsclass', '-r', 'MNT/cmp'],
      ['scadmin', 'MNT', 'delete', 'fast'],
    ];
    const reasonless = (text: string) => text.replace(/: error: .*/g, ': error:');
    // Every step's pair, compared at the end: one run shows every difference.
    const ourSteps: unknown[] = [];
    const theirSteps: unknown[] = [];
    for (const [name, ...args] of sclassSteps) {
      const step = [name, ...args].join(' ');
      const ours = await tool(name!, ...args.map((a) => a.replace('MNT', m.path)));
      const theirs = await run(`/usr/bin/mfs${name}`, args.map((a) => a.replace('MNT', mfs.mnt)));
      const oursText = reasonless([ours.out, ours.err].filter((t) => t !== '').join('\n').replaceAll(m.path, 'MNT'));
      const theirsText = reasonless(`${theirs.out}${theirs.err}`.replaceAll(mfs.mnt, 'MNT').trimEnd());
      ourSteps.push({ step, out: oursText, failed: ours.code !== 0 });
      theirSteps.push({ step, out: theirsText, failed: theirs.code !== 0 });
    }
    expect(ourSteps).toEqual(theirSteps);
  });

  it('makesnapshot shares chunks until written; appendchunks, filerepair, trash time; exit codes', async () => {
    const c = await Cluster.create({ master: { config: FAST_LOOP } });
    await c.addChunkservers(3);
    const m = await c.mount();
    const f = join(m.path, 'f');
    writeFileSync(f, Buffer.alloc(1024 * 1024, 2));
    const snap = join(m.path, 'snap');
    expect((await tool('makesnapshot', f, snap)).code).toBe(EXIT.ok);
    const idF = chunkIds((await tool('fileinfo', f)).out);
    expect(idF).toHaveLength(1);
    expect(chunkIds((await tool('fileinfo', snap)).out)).toEqual(idF);
    // Existing destination without -o: EEXIST; with -o it is replaced.
    const again = await tool('makesnapshot', f, snap);
    expect(again.code).toBe(EXIT.failed);
    expect(again.err).toMatch(/EEXIST/);
    expect((await tool('makesnapshot', '-o', f, snap)).code).toBe(EXIT.ok);
    // A directory destination takes each source under its own name.
    mkdirSync(join(m.path, 'dir'));
    expect((await tool('makesnapshot', f, snap, join(m.path, 'dir'))).code).toBe(EXIT.ok);
    expect(chunkIds((await tool('fileinfo', join(m.path, 'dir/snap'))).out)).toEqual(idF);
    // Writing the snapshot gives it a chunk of its own (copy-on-write).
    const fd = openSync(snap, 'r+');
    writeSync(fd, Buffer.from('changed'), 0, 7, 0);
    closeSync(fd);
    const idSnap = await until('copy-on-write', async () => {
      const ids = chunkIds((await tool('fileinfo', snap)).out);
      return ids[0] !== idF[0] ? ids : undefined;
    });
    expect(idSnap).toHaveLength(1);
    expect(chunkIds((await tool('fileinfo', f)).out)).toEqual(idF);

    // Extra attributes, with mfsgeteattr/mfsseteattr's output: makesnapshot marks its copies,
    // and a copy written since is no longer the snapshot's (as in MooseFS 3.0).
    expect((await tool('geteattr', join(m.path, 'dir/snap'))).out).toBe(`${join(m.path, 'dir/snap')}: snapshot`);
    expect((await tool('geteattr', snap)).out).toBe(`${snap}: -`);
    expect((await tool('geteattr', f)).out).toBe(`${f}: -`);
    expect((await tool('seteattr', '-f', 'noowner,noattrcache', '-f', 'undeletable', f)).out).toBe(`${f}: attribute(s) changed`);
    expect((await tool('seteattr', '-f', 'noowner', f)).out).toBe(`${f}: attribute(s) not changed`);
    expect((await tool('geteattr', f)).out).toBe(`${f}: noowner,noattrcache,undeletable`);
    expect(() => rmSync(f)).toThrow(/EPERM/);
    expect((await tool('deleattr', '-f', 'undeletable', f)).out).toBe(`${f}: attribute(s) changed`);
    // copyeattr: exactly the source's set.
    expect((await tool('copyeattr', f, snap)).out).toBe(`${f}: noowner,noattrcache\n${snap}: attribute(s) changed`);
    expect((await tool('geteattr', snap)).out).toBe(`${snap}: noowner,noattrcache`);
    expect((await tool('deleattr', '-f', 'noowner', '-f', 'noattrcache', f, snap)).code).toBe(EXIT.ok);
    expect((await tool('seteattr', '-f', 'nosuch', f)).code).toBe(EXIT.usage);
    expect((await tool('seteattr', f)).code).toBe(EXIT.usage);

    const dst = join(m.path, 'dst');
    writeFileSync(dst, Buffer.alloc(10, 3));
    expect((await tool('appendchunks', dst, f)).code).toBe(EXIT.ok);
    // The mount caches attributes for a moment: the new length shows once that expires.
    await until('the appended length', async () => (statSync(dst).size === 64 * 1024 * 1024 + 1024 * 1024 ? true : undefined), 10_000);
    const dstIds = chunkIds((await tool('fileinfo', dst)).out);
    expect(dstIds[1]).toBe(idF[0]);

    const rep = await tool('filerepair', f);
    expect(numberAfter(rep.out, 'chunks not changed')).toBe(1);
    expect(numberAfter(rep.out, 'chunks erased')).toBe(0);

    expect((await tool('settrashtime', '3600', f)).out).toBe(`${f}: 3600`);
    expect((await tool('gettrashtime', f)).out).toBe(`${f}: 3600`);
    expect((await tool('settrashtime', '-r', '7200+', m.path)).code).toBe(EXIT.ok);
    expect((await tool('gettrashtime', f)).out).toBe(`${f}: 7200`);
    writeFileSync(join(m.path, 'short'), '');
    expect((await tool('settrashtime', '60', join(m.path, 'short'))).code).toBe(EXIT.ok);
    expect((await tool('copytrashtime', join(m.path, 'short'), f)).out).toBe(`${join(m.path, 'short')}: 60\n${f}: 60`);
    rmSync(join(m.path, 'short'));

    // rmsnapshot: a snapshot tree goes whole; a tree with anything else in it stays whole (EPERM), unless -f.
    mkdirSync(join(m.path, 'orig/sub'), { recursive: true });
    writeFileSync(join(m.path, 'orig/sub/x'), 'x');
    expect((await tool('makesnapshot', join(m.path, 'orig'), join(m.path, 'copy'))).code).toBe(EXIT.ok);
    const tree = await tool('geteattr', '-r', join(m.path, 'copy'));
    // mfsgeteattr -r's lines, spacing included (checked against MooseFS 3.0.117): every attribute, zeros too.
    const perAttribute = ['noowner', 'noattrcache', 'noentrycache', 'nodatacache', 'snapshot', 'undeletable', 'appendonly', 'immutable'].flatMap((a) => [
      ` not directory nodes with attribute ${a.padStart(16)} :${String(a === 'snapshot' ? 1 : 0).padStart(11)}`,
      ` directories with attribute         ${a.padStart(16)} :${String(a === 'snapshot' ? 2 : 0).padStart(11)}`,
    ]);
    expect(tree.out).toBe([`${join(m.path, 'copy')}:`, ...perAttribute].join('\n'));
    expect(perAttribute[8]).toBe(' not directory nodes with attribute         snapshot :          1');
    expect((await tool('seteattr', '-r', '-f', 'nodatacache', join(m.path, 'copy'))).out).toBe(
      [`${join(m.path, 'copy')}:`, ' inodes with attributes changed:              3', ' inodes with attributes not changed:          0', ' inodes with permission denied:               0'].join('\n'),
    );
    // A file made in a snapshot later is not part of it (MooseFS 3.0 does not mark it either).
    writeFileSync(join(m.path, 'copy/sub/mine'), 'y');
    expect((await tool('geteattr', join(m.path, 'copy/sub/mine'))).out).toBe(`${join(m.path, 'copy/sub/mine')}: nodatacache`);
    const refused = await tool('rmsnapshot', join(m.path, 'copy'));
    expect(refused.code).toBe(EXIT.failed);
    expect(refused.err).toMatch(/EPERM/);
    expect(statSync(join(m.path, 'copy/sub/x')).isFile()).toBe(true);
    expect((await tool('rmsnapshot', '-f', join(m.path, 'copy'))).code).toBe(EXIT.ok);
    await until('only the unmarked file left', async () => (statSync(join(m.path, 'copy/sub/mine')).isFile() && !existsSync(join(m.path, 'copy/sub/x')) ? true : undefined), 10_000);
    expect((await tool('rmsnapshot', join(m.path, 'orig'))).code).toBe(EXIT.failed);
    expect((await tool('makesnapshot', join(m.path, 'orig'), join(m.path, 'copy2'))).code).toBe(EXIT.ok);
    expect((await tool('rmsnapshot', join(m.path, 'copy2'))).code).toBe(EXIT.ok);
    await until('the snapshot gone', async () => (existsSync(join(m.path, 'copy2')) ? undefined : true), 10_000);

    // Exit codes and messages, from the committed binary.
    const outside = makeTempDir('tsmfs-notmounted-');
    const notIn = await run(TSMFS_BIN, ['getgoal', outside]);
    expect(notIn.code).toBe(EXIT.notTsmfs);
    expect(notIn.err).toContain('not inside a tsmfs mount');
    const bad = await run(TSMFS_BIN, ['setgoal', '12', f]);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.err).toMatch(/bad goal '12'/);
    const missing = await run(TSMFS_BIN, ['getgoal', join(m.path, 'nope'), f]);
    expect(missing.code).toBe(EXIT.failed);
    expect(missing.out).toBe(`${f}: 1\n`);
    expect((await run(TSMFS_BIN, ['fileinfo', '--help'])).code).toBe(0);
    expect((await run(TSMFS_BIN, ['nosuchtool'])).code).toBe(EXIT.usage);
    const ok = await run(TSMFS_BIN, ['getgoal', f]);
    expect(ok).toMatchObject({ code: 0, out: `${f}: 1\n` });
    // No progress bar when stderr is not a terminal; one on a terminal (script(1) gives it a pty).
    expect(missing.err).not.toContain('\x1b[');
    const tty = await run('/usr/bin/script', ['-qec', `${process.execPath} ${TSMFS_BIN} getgoal -r ${m.path} ${f}`, '/dev/null']);
    expect(tty.code).toBe(0);
    expect(tty.out).toMatch(/\d\/2 paths/);
    expect(tty.out).toContain(`${f}:`);
    expect(tty.out).toContain(' files with goal                1 :          1');
  });
});


import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CREDS, type Op } from './namespace-ops.test-helpers.js';

/**
 * The real kernel as the oracle: runs an op sequence on a fresh directory of the local
 * file system (ext4 here), each op in a process with the op's uid/gid/groups, and
 * returns each op's errno name ('ok' on success) and the final tree as root sees it.
 *
 * One python process serves every sequence of a test, with one worker process per user
 * forked at its start: the worker sets its uid/gid/groups once and then runs that user's
 * ops as they come, one at a time. No op leaves state in the process that runs it (every
 * path is absolute, every descriptor closed, the umask 0 for all), so this is the same as
 * a process per op — which it was, until a fork (~30 ms of CPU on this project's VMs, a
 * python start ~0.5 s) made the comparison one of the suite's slowest files.
 */

const DRIVER = String.raw`
import os, sys, json, stat, errno, ctypes
libc = ctypes.CDLL(None, use_errno=True)
os.umask(0)
creds = json.loads(sys.argv[1])
base = None  # the sequence's directory, sent with each op

def P(*parts):
    return os.path.join(base, *[p for p in parts if p])

def do(op):
    k = op['k']
    if k == 'create': os.mknod(P(op['dir'], op['name']), stat.S_IFREG | op['mode'])
    elif k == 'mkdir': os.mkdir(P(op['dir'], op['name']), op['mode'])
    elif k == 'symlink': os.symlink(op['target'], P(op['dir'], op['name']))
    elif k == 'unlink': os.unlink(P(op['dir'], op['name']))
    elif k == 'rmdir': os.rmdir(P(op['dir'], op['name']))
    elif k == 'rename':
        r = libc.renameat2(-100, P(op['dir'], op['name']).encode(), -100, P(op['dir2'], op['name2']).encode(), op['flags'])
        if r != 0: raise OSError(ctypes.get_errno(), 'renameat2')
    elif k == 'link': os.link(P(op['path']), P(op['dir2'], op['name2']), follow_symlinks=False)
    elif k == 'chmod': os.chmod(P(op['path']), op['mode'])
    elif k == 'chown': os.chown(P(op['path']), op.get('uid', -1), op.get('gid', -1), follow_symlinks=False)
    elif k == 'truncate': os.truncate(P(op['path']), op['size'])
    elif k == 'setxattr': os.setxattr(P(op['path']), op['name'], op['value'].encode(), op['flags'], follow_symlinks=False)
    elif k == 'removexattr': os.removexattr(P(op['path']), op['name'], follow_symlinks=False)
    elif k == 'write' or k == 'ftruncate':
        fd = os.open(P(op['path']), os.O_WRONLY)
        try:
            if k == 'write': os.write(fd, b'x')
            else: os.ftruncate(fd, op['size'])
        finally: os.close(fd)
    else: raise Exception('unknown op ' + k)

def serve(who, ops_in, results_out):
    """A worker: the credentials of user number who, set once; then that user's ops until EOF."""
    global base
    c = creds[who]
    if c['uid'] != 0:
        os.setgroups(c['groups'])
        os.setresgid(c['gid'], c['gid'], c['gid'])
        os.setresuid(c['uid'], c['uid'], c['uid'])
    for line in ops_in:
        msg = json.loads(line)
        base = msg['base']
        try:
            do(msg['op'])
            out = 'ok'
        except OSError as e:
            out = errno.errorcode.get(e.errno, 'E%d' % e.errno)
        except Exception as e:
            out = 'driver error: %r' % (e,)
        results_out.write(out + '\n')
        results_out.flush()
    os._exit(0)

workers = []
for who in range(len(creds)):
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Only its own pipe ends: stdin/stdout stay the main process's, and a worker
        # holding an earlier worker's pipe would keep it from seeing EOF.
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        for fd in [to_w, from_r] + [f for w in workers for f in (w[0].fileno(), w[1].fileno())]:
            os.close(fd)
        serve(who, os.fdopen(to_r, 'r'), os.fdopen(from_w, 'w'))
    os.close(to_r)
    os.close(from_w)
    workers.append((os.fdopen(to_w, 'w'), os.fdopen(from_r, 'r')))

def run(op):
    ops_out, results_in = workers[op['who']]
    ops_out.write(json.dumps({'base': base, 'op': op}) + '\n')
    ops_out.flush()
    return results_in.readline().strip()

def walk(d, prefix, out):
    for name in os.listdir(d):
        p = os.path.join(d, name)
        st = os.lstat(p)
        kind = 'dir' if stat.S_ISDIR(st.st_mode) else 'file' if stat.S_ISREG(st.st_mode) else 'symlink' if stat.S_ISLNK(st.st_mode) else 'other'
        xs = []
        if kind != 'symlink':
            for x in os.listxattr(p, follow_symlinks=False):
                xs.append([x, os.getxattr(p, x, follow_symlinks=False).decode()])
        out[prefix + '/' + name] = {'type': kind, 'mode': stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid,
            'nlink': st.st_nlink, 'size': st.st_size if kind != 'dir' else 0, 'ino': st.st_ino, 'xattrs': sorted(xs)}
        if kind == 'dir': walk(p, prefix + '/' + name, out)

# One request a line: {"base": dir, "ops": [...]}; one reply a line.
for line in sys.stdin:
    req = json.loads(line)
    base = req['base']
    results = [run(op) for op in req['ops']]
    tree = {}
    walk(base, '', tree)
    st = os.lstat(base)
    sys.stdout.write(json.dumps({'results': results, 'tree': tree, 'root': {'mode': stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid}}) + '\n')
    sys.stdout.flush()
`;

/** Ops only the kernel comparison runs: one byte written at offset 0, and ftruncate through a descriptor open for writing. */
export type KernelOp = Op | { k: 'write'; who: number; path: string } | { k: 'ftruncate'; who: number; path: string; size: number };

export interface KernelNode {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: number;
  ino: number;
  xattrs: [string, string][];
}

export interface KernelRun {
  results: string[];
  tree: Record<string, KernelNode>;
  root: { mode: number; uid: number; gid: number };
}

/** The python driver, started once; `run` one sequence at a time, `close` at the end. */
export class KernelOracle {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly replies: AsyncIterator<string>;
  private stderr = '';

  constructor() {
    this.child = spawn('/usr/bin/python3', ['-c', DRIVER, JSON.stringify(CREDS)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-8000)));
    this.replies = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async run(ops: KernelOp[]): Promise<KernelRun> {
    const base = mkdtempSync(join(tmpdir(), 'tsmfs-oracle-'));
    // The same start as createEmptyMetadata: a root-owned 0755 root.
    chmodSync(base, 0o755);
    try {
      this.child.stdin.write(JSON.stringify({ base, ops }) + '\n');
      const next = await this.replies.next();
      if (next.done) throw new Error(`kernel driver exited: ${this.stderr}`);
      return JSON.parse(next.value) as KernelRun;
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  }

  async close(): Promise<void> {
    this.child.stdin.end();
    if (this.child.exitCode === null && this.child.signalCode === null) await new Promise((r) => this.child.once('exit', r));
  }
}

export function kernelOracleAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('/usr/bin/python3', ['-c', 'import ctypes; ctypes.CDLL(None).renameat2']).status === 0;
}

import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CREDS, type Op } from './namespace-ops.test-helpers.js';

/**
 * The real kernel as the oracle: runs an op sequence on a fresh directory of the local
 * file system (ext4 here), each op in a forked child with the op's uid/gid/groups, and
 * returns each op's errno name ('ok' on success) and the final tree as root sees it.
 * One python process per sequence (fork per op), so hundreds of ops cost a second.
 */

const DRIVER = String.raw`
import os, sys, json, stat, errno, ctypes
libc = ctypes.CDLL(None, use_errno=True)
req = json.load(sys.stdin)
base = req['base']
os.umask(0)
creds = req['creds']

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

def run(op):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        c = creds[op['who']]
        try:
            if c['uid'] != 0:
                os.setgroups(c['groups'])
                os.setresgid(c['gid'], c['gid'], c['gid'])
                os.setresuid(c['uid'], c['uid'], c['uid'])
            do(op)
            out = 'ok'
        except OSError as e:
            out = errno.errorcode.get(e.errno, 'E%d' % e.errno)
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return out

results = [run(op) for op in req['ops']]

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

tree = {}
walk(base, '', tree)
st = os.lstat(base)
json.dump({'results': results, 'tree': tree, 'root': {'mode': stat.S_IMODE(st.st_mode), 'uid': st.st_uid, 'gid': st.st_gid}}, sys.stdout)
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

export function runOnKernel(ops: KernelOp[]): KernelRun {
  const base = mkdtempSync(join(tmpdir(), 'tsmfs-oracle-'));
  // The same start as createEmptyMetadata: a root-owned 0755 root.
  chmodSync(base, 0o755);
  try {
    const out = spawnSync('/usr/bin/python3', ['-c', DRIVER], {
      input: JSON.stringify({ base, ops, creds: CREDS }),
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    if (out.status !== 0) throw new Error(`kernel driver failed: ${out.stderr}`);
    return JSON.parse(out.stdout) as KernelRun;
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

export function kernelOracleAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('/usr/bin/python3', ['-c', 'import ctypes; ctypes.CDLL(None).renameat2']).status === 0;
}

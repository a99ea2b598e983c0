import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kernelOracleAvailable } from '../metadata/kernel-oracle.test-helpers.js';
import { ALICE, BOB, ROOT, errnoOf, freshLive } from '../metadata/namespace-ops.test-helpers.js';
import { ACL_ACCESS_XATTR, ACL_DEFAULT_XATTR, ACL_GROUP, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, type Acl, encodeAclXattr } from '@tsmfs/protocol';

/**
 * Random ACLs against the kernel's own (ext4 in a temp dir, real uids in forked children):
 * who may read, write and execute a file with a random mode, owner and access ACL, and
 * what a file and a directory created under a random default ACL get (mode, ACL).
 */

const CAROL = { uid: 1002, gid: 1002, groups: [1002] };
const CALLERS = [ALICE, BOB, CAROL];
const OWNERS = [
  [1000, 1000],
  [1001, 3000],
  [0, 0],
  [1002, 3000],
] as const;

const DRIVER = String.raw`
import os, sys, json, errno
req = json.load(sys.stdin)
base = req['base']
os.umask(0)
def as_caller(c, f):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            if c['uid'] != 0:
                os.setgroups(c['groups']); os.setresgid(c['gid'], c['gid'], c['gid']); os.setresuid(c['uid'], c['uid'], c['uid'])
            out = f()
        except OSError as e:
            out = errno.errorcode.get(e.errno, 'E%d' % e.errno)
        os.write(w, out.encode()); os._exit(0)
    os.close(w); out = os.read(r, 4096).decode(); os.close(r); os.waitpid(pid, 0)
    return out
def acl_of(p, name):
    try: return os.getxattr(p, name).hex()
    except OSError as e: return errno.errorcode[e.errno]
out = []
for k, c in enumerate(req['checks']):
    p = os.path.join(base, 'f%d' % k)
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o600))
    os.chown(p, c['uid'], c['gid']); os.chmod(p, c['mode'])
    os.setxattr(p, 'system.posix_acl_access', bytes.fromhex(c['acl']))
    res = [as_caller(who, lambda: ','.join('ok' if os.access(p, m) else 'EACCES' for m in (4, 2, 1))).split(',') for who in req['callers']]
    out.append({'mode': os.stat(p).st_mode & 0o7777, 'access': [r for rs in res for r in rs]})
made = []
for k, c in enumerate(req['creates']):
    d = os.path.join(base, 'd%d' % k)
    os.mkdir(d, 0o777)
    os.setxattr(d, 'system.posix_acl_default', bytes.fromhex(c['dflt']))
    def mk():
        os.umask(c['umask'])
        os.close(os.open(os.path.join(d, 'f'), os.O_CREAT | os.O_WRONLY, c['mode']))
        os.mkdir(os.path.join(d, 'd'), c['mode'])
        return 'ok'
    as_caller(req['callers'][0], mk)
    made.append([[os.stat(os.path.join(d, n)).st_mode & 0o7777, acl_of(os.path.join(d, n), 'system.posix_acl_access'), acl_of(os.path.join(d, n), 'system.posix_acl_default')] for n in ('f', 'd')])
json.dump({'checks': out, 'creates': made}, sys.stdout)
`;

const perm = fc.integer({ min: 0, max: 7 });
/** A valid ACL: owner, some of users 1000–1002, owning group, some of groups 1000/1001/3000, a mask (always, when anything is named), other. */
const aclArb: fc.Arbitrary<Acl> = fc
  .record({
    u: perm,
    users: fc.subarray([1000, 1001, 1002]),
    userPerms: fc.array(perm, { minLength: 3, maxLength: 3 }),
    g: perm,
    groups: fc.subarray([1000, 1001, 3000]),
    groupPerms: fc.array(perm, { minLength: 3, maxLength: 3 }),
    mask: fc.option(perm, { nil: undefined }),
    o: perm,
  })
  .map(({ u, users, userPerms, g, groups, groupPerms, mask, o }) => {
    const named = users.length + groups.length > 0;
    const m = mask ?? (named ? 7 : undefined);
    return [
      { tag: ACL_USER_OBJ, perm: u },
      ...users.map((id, k) => ({ tag: ACL_USER, perm: userPerms[k]!, id })),
      { tag: ACL_GROUP_OBJ, perm: g },
      ...groups.map((id, k) => ({ tag: ACL_GROUP, perm: groupPerms[k]!, id })),
      ...(m === undefined ? [] : [{ tag: ACL_MASK, perm: m }]),
      { tag: ACL_OTHER, perm: o },
    ];
  });

const checkArb = fc.record({ owner: fc.constantFrom(...OWNERS), mode: fc.integer({ min: 0, max: 0o7777 }), acl: aclArb });
const createArb = fc.record({ dflt: aclArb, mode: fc.integer({ min: 0, max: 0o777 }), umask: fc.constantFrom(0, 0o022, 0o077, 0o027) });

describe.runIf(kernelOracleAvailable())('ACLs against the Linux kernel (ext4, real uids)', () => {
  it('random access ACLs allow and refuse as the kernel does, and leave the same mode; default ACLs give new nodes the same mode and ACLs', () => {
    const [checks, creates] = fc.sample(fc.tuple(fc.array(checkArb, { minLength: 50, maxLength: 50 }), fc.array(createArb, { minLength: 20, maxLength: 20 })), 1)[0]!;
    const base = mkdtempSync(join(tmpdir(), 'tsmfs-acl-oracle-'));
    chmodSync(base, 0o777);
    let kernel: { checks: { mode: number; access: string[] }[]; creates: [number, string, string][][] };
    try {
      const run = spawnSync('/usr/bin/python3', ['-c', DRIVER], {
        input: JSON.stringify({
          base,
          callers: CALLERS,
          checks: checks.map((c) => ({ uid: c.owner[0], gid: c.owner[1], mode: c.mode, acl: encodeAclXattr(c.acl).toString('hex') })),
          creates: creates.map((c) => ({ dflt: encodeAclXattr(c.dflt).toString('hex'), mode: c.mode, umask: c.umask })),
        }),
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      kernel = JSON.parse(run.stdout);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }

    const { ns, md } = freshLive(false);
    ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
    /** The ACL xattr as hex, or the errno (ENODATA), as the driver reports it. */
    const hex = (inode: number, name: string) => {
      let value = '';
      const errno = errnoOf(() => (value = Buffer.from(ns.getxattr({ cred: BOB, inode, name }).value).toString('hex')));
      return errno === 'ok' ? value : errno;
    };
    checks.forEach((c, k) => {
      const f = ns.mknod({ cred: ROOT, parent: 1, name: `f${k}`, type: 'file', mode: 0o600, umask: 0, rdev: 0 }).attr.inode;
      ns.setattr({ cred: ROOT, inode: f, uid: c.owner[0], gid: c.owner[1] });
      ns.setattr({ cred: ROOT, inode: f, mode: c.mode });
      ns.setxattr({ cred: ROOT, inode: f, name: ACL_ACCESS_XATTR, value: encodeAclXattr(c.acl), flags: 0 });
      const access = CALLERS.flatMap((cred) => [4, 2, 1].map((mask) => errnoOf(() => ns.access({ cred, inode: f, mask }))));
      expect({ case: k, mode: md.mode[f], access }, JSON.stringify(c)).toEqual({ case: k, ...kernel.checks[k] });
    });
    creates.forEach((c, k) => {
      const d = ns.mkdir({ cred: ROOT, parent: 1, name: `d${k}`, mode: 0o777, umask: 0 }).attr.inode;
      ns.setxattr({ cred: ROOT, inode: d, name: ACL_DEFAULT_XATTR, value: encodeAclXattr(c.dflt), flags: 0 });
      const f = ns.mknod({ cred: ALICE, parent: d, name: 'f', type: 'file', mode: c.mode, umask: c.umask, rdev: 0 }).attr.inode;
      const sub = ns.mkdir({ cred: ALICE, parent: d, name: 'd', mode: c.mode, umask: c.umask }).attr.inode;
      const got = [f, sub].map((i) => [md.mode[i], hex(i, ACL_ACCESS_XATTR), hex(i, ACL_DEFAULT_XATTR)]);
      expect({ case: k, got }, JSON.stringify(c)).toEqual({ case: k, got: kernel.creates[k] });
    });
  });
});

import { describe, expect, it } from 'vitest';
import { frameDump, unframeDump } from '@tsmfs/metastore';
import { applyMutation } from '../metadata/apply.js';
import { decodeDump, encodeDump } from '../metadata/metadata-dump.js';
import { createEmptyMetadata } from '../metadata/metadata.js';
import { ALICE, BOB, ROOT, errnoOf, freshLive } from '../metadata/namespace-ops.test-helpers.js';
import { canonicalState } from '../metadata/state-digest.js';
import { ACL_ACCESS_XATTR as ACCESS, ACL_DEFAULT_XATTR as DEFAULT, O_RDONLY, O_WRONLY, decodeAclXattr, encodeAclXattr } from '@tsmfs/protocol';

/** Linux's tags: ACL_USER_OBJ … ACL_OTHER. */
const T = { u: 0x01, U: 0x02, g: 0x04, G: 0x08, m: 0x10, o: 0x20 } as const;

/** An ACL as setfacl's short text ("u::rw,u:1001:r,g::r,m::rw,o::-"), in the kernel's xattr form. */
function acl(text: string): Buffer {
  return encodeAclXattr(
    text.split(',').map((part) => {
      const [kind, id, perms] = part.split(':') as [string, string, string];
      const perm = (perms.includes('r') ? 4 : 0) | (perms.includes('w') ? 2 : 0) | (perms.includes('x') ? 1 : 0);
      const tag = id === '' ? T[kind as 'u' | 'g' | 'm' | 'o'] : T[kind.toUpperCase() as 'U' | 'G'];
      return id === '' ? { tag, perm } : { tag, perm, id: Number(id) };
    }),
  );
}

/** The xattr form back as the same short text. */
function text(value: Uint8Array): string {
  const names: Record<number, string> = { 1: 'u', 2: 'u', 4: 'g', 8: 'g', 16: 'm', 32: 'o' };
  return decodeAclXattr(value)!
    .map((e) => `${names[e.tag]}:${e.id ?? ''}:${e.perm & 4 ? 'r' : '-'}${e.perm & 2 ? 'w' : '-'}${e.perm & 1 ? 'x' : '-'}`)
    .join(',');
}

function setup() {
  const live = freshLive(false);
  const { ns, md } = live;
  ns.setattr({ cred: ROOT, inode: 1, mode: 0o777 });
  const mkfile = (parent: number, name: string, cred = ALICE, mode = 0o640, umask = 0) => ns.mknod({ cred, parent, name, type: 'file', mode, umask, rdev: 0 }).attr.inode;
  const mkdir = (parent: number, name: string, cred = ALICE, mode = 0o750, umask = 0) => ns.mkdir({ cred, parent, name, mode, umask }).attr.inode;
  const setAcl = (inode: number, name: string, value: Buffer, cred = ALICE) => ns.setxattr({ cred, inode, name, value, flags: 0 });
  const getAcl = (inode: number, name = ACCESS, cred = BOB) => text(ns.getxattr({ cred, inode, name }).value);
  const may = (inode: number, cred: typeof ALICE, mask: number) => errnoOf(() => ns.access({ cred, inode, mask }));
  const replayEqualsLive = () => {
    const fresh = createEmptyMetadata({ sec: 1_700_000_000, nsec: 0 });
    for (const m of live.log) applyMutation(fresh, structuredClone(m));
    expect(canonicalState(fresh)).toEqual(canonicalState(md));
    expect(canonicalState(decodeDump(encodeDump(md)))).toEqual(canonicalState(md));
  };
  return { ns, md, live, mkfile, mkdir, setAcl, getAcl, may, replayEqualsLive };
}

const CAROL = { uid: 1002, gid: 1002, groups: [1002] };

describe('access ACLs: stored, shown and checked as on Linux (acl(5))', () => {
  it('a named user gets what its entry and the mask give; the mode holds owner, mask and other; chmod moves the mask', () => {
    const { ns, md, mkfile, setAcl, getAcl, may, replayEqualsLive } = setup();
    const f = mkfile(1, 'f');
    expect(may(f, BOB, 4)).toBe('EACCES');
    setAcl(f, ACCESS, acl('u::rw-,u:1001:rw-,g::r--,m::r--,o::---'));
    expect(md.mode[f]).toBe(0o640);
    // Anyone reads an ACL, whatever the mode.
    expect(getAcl(f, ACCESS, CAROL)).toBe('u::rw-,u:1001:rw-,g::r--,m::r--,o::---');
    expect(may(f, BOB, 4)).toBe('ok');
    expect(may(f, BOB, 2)).toBe('EACCES'); // the mask
    expect(may(f, CAROL, 4)).toBe('EACCES');
    ns.setattr({ cred: ALICE, inode: f, mode: 0o660 });
    expect(getAcl(f)).toBe('u::rw-,u:1001:rw-,g::r--,m::rw-,o::---');
    expect(may(f, BOB, 6)).toBe('ok');
    expect(errnoOf(() => ns.open({ cred: BOB, inode: f, flags: O_WRONLY }))).toBe('ok');
    expect(ns.listxattr({ cred: BOB, inode: f }).names).toEqual([ACCESS]);
    replayEqualsLive();
  });

  it('group entries: any matching one that grants suffices; matching one that does not refuses (no fallback to other)', () => {
    const { mkfile, setAcl, may } = setup();
    const f = mkfile(1, 'f', ALICE, 0o644);
    // BOB is in group 3000 (named, r only); others may read and write.
    setAcl(f, ACCESS, acl('u::rw-,g::---,g:3000:r--,m::rwx,o::rw-'));
    expect(may(f, BOB, 4)).toBe('ok');
    expect(may(f, BOB, 2)).toBe('EACCES');
    expect(may(f, CAROL, 6)).toBe('ok');
  });

  it('a mask of nothing: Linux goes by the mode alone, so a named user not in the group gets other', () => {
    const { mkfile, setAcl, may } = setup();
    const f = mkfile(1, 'f');
    setAcl(f, ACCESS, acl('u::rw-,u:1001:rw-,g::r--,m::---,o::r--'));
    expect(may(f, BOB, 4)).toBe('ok');
    expect(may(f, BOB, 2)).toBe('EACCES');
  });

  it('an ACL the mode can say is kept as the mode only; removing the ACL keeps the mode (ext4), even when there is none', () => {
    const { ns, md, mkfile, setAcl, getAcl, replayEqualsLive } = setup();
    const f = mkfile(1, 'f');
    setAcl(f, ACCESS, acl('u::rwx,g::r-x,o::r--'));
    expect(md.mode[f]).toBe(0o754);
    expect(errnoOf(() => getAcl(f))).toBe('ENODATA');
    expect(md.acls.size).toBe(0);
    setAcl(f, ACCESS, acl('u::rw-,u:1001:r--,g::---,m::rw-,o::---'));
    ns.removexattr({ cred: ALICE, inode: f, name: ACCESS });
    expect(md.mode[f]).toBe(0o660);
    expect(errnoOf(() => getAcl(f))).toBe('ENODATA');
    expect(errnoOf(() => ns.removexattr({ cred: ALICE, inode: f, name: ACCESS }))).toBe('ok');
    expect(errnoOf(() => ns.removexattr({ cred: ALICE, inode: f, name: DEFAULT }))).toBe('ok');
    replayEqualsLive();
  });

  it('refuses as Linux does: non-owner EPERM, default ACL on a file EACCES, bad ACLs EINVAL, another version EOPNOTSUPP, symlinks EOPNOTSUPP', () => {
    const { ns, md, mkfile, setAcl } = setup();
    const f = mkfile(1, 'f');
    const good = acl('u::rw-,u:1001:r--,g::---,m::r--,o::---');
    expect(errnoOf(() => setAcl(f, ACCESS, good, BOB))).toBe('EPERM');
    expect(errnoOf(() => setAcl(f, ACCESS, good, ROOT))).toBe('ok');
    expect(errnoOf(() => setAcl(f, DEFAULT, good))).toBe('EACCES');
    expect(errnoOf(() => setAcl(f, ACCESS, acl('u::rw-,u:1001:r--,g::---,o::---')))).toBe('EINVAL'); // named, no mask
    expect(errnoOf(() => setAcl(f, ACCESS, acl('u::rw-,g::---,u:1001:r--,m::r--,o::---')))).toBe('EINVAL'); // order
    expect(errnoOf(() => setAcl(f, ACCESS, acl('u::rw-,u:1001:r--,u:1001:rw-,g::---,m::r--,o::---')))).toBe('EINVAL'); // twice
    expect(errnoOf(() => setAcl(f, ACCESS, acl('u::rw-,g::---')))).toBe('EINVAL'); // no other
    expect(errnoOf(() => setAcl(f, ACCESS, good.subarray(0, 13)))).toBe('EINVAL'); // torn
    const v1 = Buffer.from(good);
    v1.writeUInt32LE(1, 0);
    expect(errnoOf(() => setAcl(f, ACCESS, v1))).toBe('ENOTSUP');
    const s = ns.symlink({ cred: ALICE, parent: 1, name: 's', target: 'f' }).attr.inode;
    expect(errnoOf(() => setAcl(s, ACCESS, good))).toBe('ENOTSUP');
    expect(md.acls.access(f)).toEqual({ group: 0, named: [{ tag: T.U, perm: 4, id: 1001 }] });
  });

  it('setgid goes when the owner setting the ACL is not in the group; root keeps it', () => {
    const { ns, md, mkfile, setAcl } = setup();
    const f = mkfile(1, 'f', ALICE);
    ns.setattr({ cred: ROOT, inode: f, gid: 555 });
    ns.setattr({ cred: ROOT, inode: f, mode: 0o2770 });
    setAcl(f, ACCESS, acl('u::rwx,u:1001:r--,g::r-x,m::rwx,o::---'), ROOT);
    expect(md.mode[f]).toBe(0o2770);
    setAcl(f, ACCESS, acl('u::rwx,u:1001:r--,g::r-x,m::rwx,o::---'));
    expect(md.mode[f]).toBe(0o770);
  });
});

describe('default ACLs: what new nodes inherit (posix_acl_create)', () => {
  it('a new file takes the default ACL as its access ACL, its mode masked by it instead of the umask; a directory takes the default too; a symlink nothing', () => {
    const { ns, md, mkfile, mkdir, setAcl, getAcl, may, replayEqualsLive } = setup();
    const d = mkdir(1, 'd', ALICE, 0o777);
    setAcl(d, DEFAULT, acl('u::rwx,u:1001:rwx,g::r-x,m::rwx,o::---'));
    expect(getAcl(d, DEFAULT)).toBe('u::rwx,u:1001:rwx,g::r-x,m::rwx,o::---');
    expect(errnoOf(() => getAcl(d))).toBe('ENODATA');
    const f = mkfile(d, 'f', ALICE, 0o666, 0o077);
    expect(md.mode[f]).toBe(0o660);
    expect(getAcl(f)).toBe('u::rw-,u:1001:rwx,g::r-x,m::rw-,o::---');
    expect(may(f, BOB, 6)).toBe('ok');
    expect(may(f, BOB, 1)).toBe('EACCES');
    const sub = mkdir(d, 'sub', ALICE, 0o750, 0o077);
    expect(md.mode[sub]).toBe(0o750);
    expect(getAcl(sub)).toBe('u::rwx,u:1001:rwx,g::r-x,m::r-x,o::---');
    expect(getAcl(sub, DEFAULT)).toBe('u::rwx,u:1001:rwx,g::r-x,m::rwx,o::---');
    const s = ns.symlink({ cred: ALICE, parent: d, name: 's', target: 'f' }).attr.inode;
    expect(md.acls.has(s)).toBe(false);
    // Without a default ACL the umask applies.
    expect(md.mode[mkfile(1, 'plain', ALICE, 0o666, 0o027)]).toBe(0o640);
    // A minimal default ACL gives no access ACL, only its masking.
    const m = mkdir(1, 'm', ALICE, 0o777);
    setAcl(m, DEFAULT, acl('u::rw-,g::r--,o::---'));
    const g = mkfile(m, 'g', ALICE, 0o777, 0o022);
    expect(md.mode[g]).toBe(0o640);
    expect(md.acls.has(g)).toBe(false);
    // A snapshot copies ACLs; unlinked nodes lose them.
    ns.snapshot({ cred: ROOT, inode: d, parent: 1, name: 'snap', overwrite: false });
    const copy = md.lookup(md.lookup(1, 'snap')!, 'f')!;
    expect(getAcl(copy)).toBe('u::rw-,u:1001:rwx,g::r-x,m::rw-,o::---');
    ns.settrashtime({ cred: ROOT, inode: 1, trashtime: 0, mode: 'set', recursive: true });
    ns.unlink({ cred: ALICE, parent: md.lookup(1, 'snap')!, name: 'f' });
    expect(md.acls.has(copy)).toBe(false);
    // Removing the default ACL stops the inheritance.
    ns.removexattr({ cred: ALICE, inode: d, name: DEFAULT });
    expect(md.acls.has(mkfile(d, 'late', ALICE, 0o666, 0o022))).toBe(false);
    expect(ns.open({ cred: BOB, inode: f, flags: O_RDONLY }).attr.inode).toBe(f);
    replayEqualsLive();
  });

  it('dumps carry the ACLs (format 7); a format-6 dump, which has no ACL section, still loads, with none', () => {
    const { md, mkdir, setAcl } = setup();
    mkdir(1, 'plain');
    const older = unframeDump(encodeDump(md));
    // A format-6 payload is a format-7 one without its last section ("[]" with its u32 length here).
    const v6 = frameDump(6, older.version, older.payload.subarray(0, older.payload.length - 6));
    expect(canonicalState(decodeDump(v6))).toEqual(canonicalState(md));
    setAcl(mkdir(1, 'd'), DEFAULT, acl('u::rwx,g::r-x,o::---'));
    const dump = encodeDump(md);
    expect(unframeDump(dump).format).toBe(7);
    expect(decodeDump(dump).acls.default(md.lookup(1, 'd')!)).toEqual(md.acls.default(md.lookup(1, 'd')!));
  });
});

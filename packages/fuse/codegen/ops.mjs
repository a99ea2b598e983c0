// The one table of the binding's FUSE operations. codegen/generate.mjs derives from it
// both the C side (src/native/ops.gen.h, ops.gen.c: the op codes, each libfuse callback
// copying its arguments into a call, and the ops table handed to fuse_session_new) and the
// TypeScript side (src/ops.gen.ts: each handler's named arguments, the LowLevelOps
// interface, and the table FuseSession dispatches from). See docs/fuse-binding.md.
//
// An operation:
//   name     the fuse_lowlevel_ops member, the op code's name and the handler's name;
//   params   the libfuse callback's parameters after `req`, as C declares them;
//   fields   what crosses from C to JS, in order: [jsName, kind, C expression]. Kinds:
//              num    a number (doubles hold every value libfuse passes: 53 bits suffice
//                     for inodes, offsets and handles that JS made);
//              bool   a number that arrives as a boolean;
//              fhOpt  fi->fh, or undefined when the kernel sent no file handle;
//              str    a name (at most two per op; names that are not UTF-8 are EILSEQ);
//              data   bytes [pointer expression, length expression], copied on the loop
//                     thread (the receive buffer is reused) and handed over as a Buffer;
//              owner  a 64-bit lock owner, as a bigint;
//   args     the handler's named arguments, in order: a field of the same name, or
//            [name, TS type, JS expression over the fields] for a composed argument;
//   result   the handler's result type; reply: how it is answered (replies.ts);
//   missing  without a handler: 'enosys' (default), 'ok' (answered 0) or 'open' (fh 0);
//   orphan   the release to run when the kernel dropped an open/create before its reply;
//   cap      served only when the session asks for this capability (else unregistered);
//   answered a C condition over the callback's parameters tried first: true when it has
//            answered the request itself (no_xattrs.c), and JS never sees it;
//   doc      the handler's comment in LowLevelOps.
// Notifications (forget, interrupt, init, ended) have hand-written C (src/native/calls.c).

const fi = 'struct fuse_file_info *fi';
const fh = ['fh', 'num', 'fi ? (double)fi->fh : 0'];
const fhOpt = ['fh', 'fhOpt', 'fi ? (double)fi->fh : -1'];
const ino = ['ino', 'num', 'ino'];
const flags = ['flags', 'num', 'fi ? fi->flags : 0'];
/** read, readdir, readdirplus: up to `size` bytes from `offset`. */
const sized = { params: `fuse_ino_t ino, size_t size, off_t offset, ${fi}`, fields: [ino, ['size', 'num', 'size'], ['offset', 'num', 'offset'], fh] };
/** open, opendir: the open flags; answered with a handle. */
const opening = { params: `fuse_ino_t ino, ${fi}`, fields: [ino, flags], result: 'OpenResult', reply: 'open', missing: 'open' };
/** fsync, fsyncdir. */
const syncing = { params: `fuse_ino_t ino, int datasync, ${fi}`, fields: [ino, ['datasync', 'bool', 'datasync'], fh], result: 'void', reply: 'ok' };

/** @type {import('./generate.mjs').OpSpec[]} */
export const OPS = [
  {
    name: 'lookup',
    params: 'fuse_ino_t parent, const char *name',
    fields: [['parent', 'num', 'parent'], ['name', 'str', 'name']],
    result: 'EntryResult',
    reply: 'entry',
  },
  {
    name: 'forget',
    notification: true,
    // (ino, nlookup) pairs of doubles, made by src/native/calls.c.
    fields: [['pairs', 'data', null]],
    args: [['items', 'ForgetItem[]', 'forgetItems(pairs)']],
    result: 'void',
    doc: 'Both FUSE_FORGET and FUSE_BATCH_FORGET; already answered, the result is ignored.',
  },
  {
    name: 'getattr',
    params: `fuse_ino_t ino, ${fi}`,
    fields: [['ino', 'num', 'ino'], fhOpt],
    result: 'AttrResult',
    reply: 'attr',
  },
  {
    name: 'setattr',
    params: `fuse_ino_t ino, struct stat *attr, int to_set, ${fi}`,
    fields: [
      ['ino', 'num', 'ino'],
      ['toSet', 'num', 'to_set'],
      ['mode', 'num', 'attr->st_mode'],
      ['uid', 'num', 'attr->st_uid'],
      ['gid', 'num', 'attr->st_gid'],
      ['size', 'num', 'attr->st_size'],
      // Nanoseconds cross as they are: utimensat's exact times reach the handler.
      ['atimeSec', 'num', 'attr->st_atim.tv_sec'],
      ['atimeNsec', 'num', 'attr->st_atim.tv_nsec'],
      ['mtimeSec', 'num', 'attr->st_mtim.tv_sec'],
      ['mtimeNsec', 'num', 'attr->st_mtim.tv_nsec'],
      fhOpt,
    ],
    args: [
      'ino',
      [
        'changes',
        'SetAttrChanges',
        'setAttrChanges(toSet, mode, uid, gid, size, atimeSec, atimeNsec, mtimeSec, mtimeNsec)',
      ],
      'fh',
    ],
    result: 'AttrResult',
    reply: 'attr',
  },
  {
    name: 'readlink',
    params: 'fuse_ino_t ino',
    fields: [['ino', 'num', 'ino']],
    result: 'string',
    reply: 'readlink',
  },
  {
    name: 'mknod',
    params: 'fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev',
    fields: [['parent', 'num', 'parent'], ['name', 'str', 'name'], ['mode', 'num', 'mode'], ['rdev', 'num', 'rdev']],
    result: 'EntryResult',
    reply: 'entry',
    doc: 'mode carries the S_IFMT type; already umasked by the kernel.',
  },
  {
    name: 'mkdir',
    params: 'fuse_ino_t parent, const char *name, mode_t mode',
    fields: [['parent', 'num', 'parent'], ['name', 'str', 'name'], ['mode', 'num', 'mode']],
    result: 'EntryResult',
    reply: 'entry',
    doc: 'mode is the permission bits as the kernel sends them (no S_IFDIR), already umasked.',
  },
  {
    name: 'unlink',
    params: 'fuse_ino_t parent, const char *name',
    fields: [['parent', 'num', 'parent'], ['name', 'str', 'name']],
    result: 'void',
    reply: 'ok',
  },
  {
    name: 'rmdir',
    params: 'fuse_ino_t parent, const char *name',
    fields: [['parent', 'num', 'parent'], ['name', 'str', 'name']],
    result: 'void',
    reply: 'ok',
  },
  {
    name: 'symlink',
    params: 'const char *link, fuse_ino_t parent, const char *name',
    fields: [['parent', 'num', 'parent'], ['name', 'str', 'name'], ['target', 'str', 'link']],
    result: 'EntryResult',
    reply: 'entry',
  },
  {
    name: 'rename',
    params: 'fuse_ino_t parent, const char *name, fuse_ino_t newparent, const char *newname, unsigned int flags',
    fields: [
      ['parent', 'num', 'parent'],
      ['name', 'str', 'name'],
      ['newParent', 'num', 'newparent'],
      ['newName', 'str', 'newname'],
      ['flags', 'num', 'flags'],
    ],
    result: 'void',
    reply: 'ok',
    doc:
      "`flags`: renameat2's RENAME_NOREPLACE (1), RENAME_EXCHANGE (2) or RENAME_WHITEOUT (4);\n" +
      'a handler must answer EINVAL for a flag it does not implement, never ignore it.',
  },
  {
    name: 'link',
    params: 'fuse_ino_t ino, fuse_ino_t newparent, const char *newname',
    fields: [['ino', 'num', 'ino'], ['newParent', 'num', 'newparent'], ['newName', 'str', 'newname']],
    result: 'EntryResult',
    reply: 'entry',
  },
  { name: 'open', ...opening, orphan: 'release' },
  {
    name: 'read',
    ...sized,
    result: 'Buffer',
    reply: 'buf',
  },
  {
    name: 'write',
    params: `fuse_ino_t ino, const char *buf, size_t size, off_t offset, ${fi}`,
    fields: [
      ['ino', 'num', 'ino'],
      // Copied off the main thread; JS gets this memory as an external Buffer (no second copy).
      ['data', 'data', ['buf', 'size']],
      ['offset', 'num', 'offset'],
      fh,
      ['flags', 'num', 'fi ? fi->flags : 0'],
      ['writepage', 'bool', 'fi && fi->writepage'],
    ],
    doc: '`writepage`: the write comes from the page cache\'s writeback rather than a write(2).',
    result: 'number',
    reply: 'write',
  },
  {
    name: 'flush',
    params: `fuse_ino_t ino, ${fi}`,
    fields: [['ino', 'num', 'ino'], fh, ['lockOwner', 'owner', 'fi ? fi->lock_owner : 0']],
    result: 'void',
    reply: 'ok',
  },
  {
    name: 'release',
    params: `fuse_ino_t ino, ${fi}`,
    fields: [
      ['ino', 'num', 'ino'],
      fh,
      ['flags', 'num', 'fi ? fi->flags : 0'],
      ['flush', 'bool', 'fi && fi->flush'],
      ['flockRelease', 'bool', 'fi && fi->flock_release'],
      ['lockOwner', 'owner', 'fi ? fi->lock_owner : 0'],
    ],
    result: 'void',
    reply: 'ok',
    missing: 'ok',
  },
  { name: 'fsync', ...syncing },
  { name: 'opendir', ...opening, orphan: 'releasedir' },
  {
    name: 'readdir',
    ...sized,
    result: 'DirEntry[]',
    reply: 'dirents',
    doc: 'Entries past what fits in `size` bytes are dropped; the kernel asks again from the last nextOffset.',
  },
  {
    name: 'readdirplus',
    ...sized,
    result: 'DirEntryPlus[]',
    reply: 'direntsPlus',
    cap: 'CAP_READDIRPLUS',
    doc:
      'Served instead of readdir when given (the kernel then asks READDIRPLUS): every entry\n' +
      'with an `entry` counts as a lookup of it (forget will follow), except "." and "..".',
  },
  {
    name: 'releasedir',
    params: `fuse_ino_t ino, ${fi}`,
    fields: [['ino', 'num', 'ino'], fh, ['flags', 'num', 'fi ? fi->flags : 0']],
    result: 'void',
    reply: 'ok',
    missing: 'ok',
  },
  { name: 'fsyncdir', ...syncing },
  {
    name: 'statfs',
    params: 'fuse_ino_t ino',
    fields: [['ino', 'num', 'ino']],
    result: 'StatfsResult',
    reply: 'statfs',
  },
  {
    name: 'setxattr',
    params: 'fuse_ino_t ino, const char *name, const char *value, size_t size, int flags',
    fields: [['ino', 'num', 'ino'], ['name', 'str', 'name'], ['value', 'data', ['value', 'size']], ['flags', 'num', 'flags']],
    result: 'void',
    reply: 'ok',
  },
  {
    name: 'getxattr',
    params: 'fuse_ino_t ino, const char *name, size_t size',
    fields: [['ino', 'num', 'ino'], ['name', 'str', 'name'], ['size', 'num', 'size']],
    answered: 'no_xattrs_answer(req, ino, 0, size)',
    result: 'Buffer',
    reply: 'xattr',
    doc: 'Return the whole value; the size protocol (probe with 0, ERANGE) is handled here.',
  },
  {
    name: 'listxattr',
    params: 'fuse_ino_t ino, size_t size',
    fields: [['ino', 'num', 'ino'], ['size', 'num', 'size']],
    answered: 'no_xattrs_answer(req, ino, 1, size)',
    result: 'string[]',
    reply: 'xattrNames',
    doc: 'Return the names; packing and the size protocol are handled here.',
  },
  {
    name: 'removexattr',
    params: 'fuse_ino_t ino, const char *name',
    fields: [['ino', 'num', 'ino'], ['name', 'str', 'name']],
    result: 'void',
    reply: 'ok',
  },
  {
    name: 'access',
    params: 'fuse_ino_t ino, int mask',
    fields: [['ino', 'num', 'ino'], ['mask', 'num', 'mask']],
    result: 'void',
    reply: 'ok',
  },
  {
    name: 'create',
    params: `fuse_ino_t parent, const char *name, mode_t mode, ${fi}`,
    fields: [['parent', 'num', 'parent'], ['name', 'str', 'name'], ['mode', 'num', 'mode'], ['flags', 'num', 'fi ? fi->flags : 0']],
    result: 'CreateResult',
    reply: 'create',
    orphan: 'release',
    doc: 'mode carries S_IFREG; already umasked by the kernel.',
  },
  {
    name: 'fallocate',
    params: `fuse_ino_t ino, int mode, off_t offset, off_t length, ${fi}`,
    fields: [['ino', 'num', 'ino'], ['mode', 'num', 'mode'], ['offset', 'num', 'offset'], ['length', 'num', 'length'], fh],
    result: 'void',
    reply: 'ok',
  },
  {
    name: 'getlk',
    params: `fuse_ino_t ino, ${fi}, struct flock *lock`,
    fields: [
      ['ino', 'num', 'ino'],
      fh,
      ['type', 'num', 'lock->l_type'],
      ['start', 'num', 'lock->l_start'],
      ['length', 'num', 'lock->l_len'],
      ['pid', 'num', 'lock->l_pid'],
      ['owner', 'owner', 'fi ? fi->lock_owner : 0'],
    ],
    args: ['ino', 'fh', ['lock', 'FileLock', '{ type, start, length, pid }'], 'owner'],
    result: 'FileLock',
    reply: 'lock',
    cap: 'CAP_POSIX_LOCKS',
    doc:
      'POSIX locks, served only if both getlk and setlk are given (otherwise the kernel keeps\n' +
      'locks local to this machine). getlk returns the first conflicting lock, or one of type\n' +
      'UNLOCK. Locks belong to `owner`; flush(owner) should drop them.',
  },
  {
    name: 'setlk',
    params: `fuse_ino_t ino, ${fi}, struct flock *lock, int sleep`,
    fields: [
      ['ino', 'num', 'ino'],
      fh,
      ['type', 'num', 'lock->l_type'],
      ['start', 'num', 'lock->l_start'],
      ['length', 'num', 'lock->l_len'],
      ['pid', 'num', 'lock->l_pid'],
      ['owner', 'owner', 'fi ? fi->lock_owner : 0'],
      ['sleep', 'bool', 'sleep'],
    ],
    args: ['ino', 'fh', ['lock', 'FileLock', '{ type, start, length, pid }'], 'owner', 'sleep'],
    result: 'void',
    reply: 'ok',
    cap: 'CAP_POSIX_LOCKS',
    doc: 'With `sleep` it waits until granted (listen to ctx.signal); without, a conflict is EAGAIN.',
  },
  {
    name: 'flock',
    params: `fuse_ino_t ino, ${fi}, int op`,
    fields: [['ino', 'num', 'ino'], fh, ['op', 'num', 'op'], ['owner', 'owner', 'fi ? fi->lock_owner : 0']],
    result: 'void',
    reply: 'ok',
    cap: 'CAP_FLOCK',
    doc: 'flock(2): op is LOCK_SH 1 / LOCK_EX 2 / LOCK_UN 8, with LOCK_NB 4. Served only if given.',
  },
  {
    name: 'ioctl',
    params: `fuse_ino_t ino, unsigned int cmd, void *arg, ${fi}, unsigned flags, const void *in_buf, size_t in_bufsz, size_t out_bufsz`,
    fields: [
      ['ino', 'num', 'ino'],
      ['cmd', 'num', 'cmd'],
      fh,
      ['flags', 'num', 'flags'],
      ['input', 'data', ['(const char *)in_buf', 'in_bufsz']],
      ['outSize', 'num', 'out_bufsz'],
    ],
    result: 'Buffer',
    reply: 'ioctl',
    doc:
      'Restricted ioctls (a FUSE file system gets no other): the kernel sized `input` and the\n' +
      'answer (at most `outSize` bytes) from `cmd`. chattr/lsattr arrive as FS_IOC_GETFLAGS and\n' +
      'FS_IOC_SETFLAGS, after the kernel checked ownership and CAP_LINUX_IMMUTABLE.',
  },
];

/** Calls that are not requests: no handler, no reply (src/native/calls.c makes them). */
export const NOTIFICATIONS = ['interrupt', 'init', 'ended'];

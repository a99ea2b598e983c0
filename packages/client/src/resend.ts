import {
  ACL_DEFAULT_XATTR,
  type Attr,
  type MessageName,
  type Reply,
  type Request,
  Status,
  TsmfsError,
  XATTR_CREATE,
  aclMode,
  decodeAclXattr,
  isTsmfsError,
} from '@tsmfs/protocol';

/**
 * What an error to a RE-SENT request means — the FALLBACK of exactly-once requests.
 *
 * When the link to the master drops while a request is in flight, the session cannot
 * know whether the master applied it (and made it durable) before it went away. It
 * re-sends the request on the new link. For most requests that is harmless (getattr,
 * setattr to absolute values, setgoal, …). The ones that are not idempotent carry a
 * request id (`rid`, docs/client.md "Request ids"): the master records the result of an
 * applied one with the change itself, replicated to the other masters of an HA group,
 * and answers a re-send from that record, so it is not applied twice. This file serves
 * only when the master that gets the re-send has no record of it: one that does not
 * keep the table (an older master), a session the new leader did not know (its record
 * was not yet saved when the old leader died, so the client got a new session id), or
 * a request whose change was made after an await (the tag is then not on its entry).
 * Then the second attempt fails with exactly the error that the first attempt's success
 * would cause, and those errors are resolved here by looking at the namespace:
 *
 * - mknod / mkdir / symlink → EEXIST: accepted when the existing entry has the type
 *   (and permission bits, or symlink target) we asked for; its attr is the reply. The
 *   bits are those the master gives a new node: the mode less the umask, or, under a
 *   parent with a default ACL, the mode masked by that ACL (the umask is not applied).
 * - link → EEXIST: accepted when the name points at the inode we linked.
 * - snapshot → EEXIST: accepted when the name exists with the source's type.
 * - unlink / rmdir → ENOENT: accepted (the name is gone, which is what we asked).
 * - rename → ENOENT: accepted when the destination name exists.
 * - setxattr(XATTR_CREATE) → EEXIST: accepted when the stored value is ours.
 * - removexattr → ENODATA, trashUndelete / trashPurge → ENOENT: accepted.
 *
 * The residual ambiguity (another client made the same name, same type and mode, in
 * the instant between the crash and our re-send) is the one MooseFS's client has too.
 * What this guarantees is the other direction, the one that matters: a request the
 * caller sees succeed is present in the master's durable state.
 */

/** The requests a resolution needs, sent without any resend logic of their own. */
export interface Probe {
  call<N extends MessageName>(name: N, body: Request<N>): Promise<Reply<N>>;
}

type Resolver = (body: never, err: TsmfsError, probe: Probe) => Promise<unknown>;


const resolvers: Partial<Record<MessageName, Resolver>> = {
  mknod: (body: Request<'mknod'>, err, probe) =>
    ifStatus(err, Status.EEXIST, async () => {
      const perms = await createdPerms(probe, body);
      return expectEntry(probe, body, (a) => a.type === body.type && (a.mode & 0o777) === perms);
    }),
  mkdir: (body: Request<'mkdir'>, err, probe) =>
    ifStatus(err, Status.EEXIST, async () => {
      const perms = await createdPerms(probe, body);
      return expectEntry(probe, body, (a) => a.type === 'dir' && (a.mode & 0o777) === perms);
    }),
  symlink: (body: Request<'symlink'>, err, probe) =>
    ifStatus(err, Status.EEXIST, async () => {
      const reply = await expectEntry(probe, body, (a) => a.type === 'symlink');
      const { target } = await probe.call('readlink', { inode: reply.attr.inode });
      if (target !== body.target) throw err;
      return reply;
    }),
  link: (body: Request<'link'>, err, probe) =>
    ifStatus(err, Status.EEXIST, () => expectEntry(probe, body, (a) => a.inode === body.inode)),
  snapshot: (body: Request<'snapshot'>, err, probe) =>
    ifStatus(err, Status.EEXIST, async () => {
      const { attr: source } = await probe.call('getattr', { inode: body.inode });
      return expectEntry(probe, body, (a) => a.type === source.type);
    }),
  unlink: (_body, err) => ifStatus(err, Status.ENOENT, async () => ({})),
  rmdir: (_body, err) => ifStatus(err, Status.ENOENT, async () => ({})),
  rename: (body: Request<'rename'>, err, probe) =>
    ifStatus(err, Status.ENOENT, async () => {
      await probe.call('lookup', { cred: body.cred, parent: body.newParent, name: body.newName }).catch(() => {
        throw err;
      });
      return {};
    }),
  setxattr: (body: Request<'setxattr'>, err, probe) =>
    ifStatus(err, Status.EEXIST, async () => {
      if ((body.flags & XATTR_CREATE) === 0) throw err;
      const { value } = await probe.call('getxattr', { cred: body.cred, inode: body.inode, name: body.name });
      if (!Buffer.from(value).equals(Buffer.from(body.value))) throw err;
      return {};
    }),
  removexattr: (_body, err) => ifStatus(err, Status.ENODATA, async () => ({})),
  trashUndelete: (_body, err) => ifStatus(err, Status.ENOENT, async () => ({})),
  trashPurge: (_body, err) => ifStatus(err, Status.ENOENT, async () => ({})),
};

/**
 * Resolves `err`, the master's answer to a re-sent `name` request: returns the reply
 * the first attempt must have had, or throws `err` when the namespace does not show
 * that the first attempt was applied.
 */
export async function resolveResent<N extends MessageName>(name: N, body: Request<N>, err: unknown, probe: Probe): Promise<Reply<N>> {
  const resolver = resolvers[name];
  if (!resolver || !(err instanceof TsmfsError)) throw err;
  return (await resolver(body as never, err, probe)) as Reply<N>;
}

async function ifStatus<T>(err: TsmfsError, status: number, resolve: () => Promise<T>): Promise<T> {
  if (err.status !== status) throw err;
  return resolve();
}

async function expectEntry(
  probe: Probe,
  body: { cred: Request<'lookup'>['cred']; parent: number; name: string },
  matches: (attr: Attr) => boolean,
): Promise<{ attr: Attr }> {
  let attr: Attr;
  try {
    ({ attr } = await probe.call('lookup', { cred: body.cred, parent: body.parent, name: body.name }));
  } catch (lookupErr) {
    // Gone again already: nothing shows that our request was the one applied.
    if (isTsmfsError(lookupErr, 'ENOENT')) throw new TsmfsError(Status.EEXIST, `${body.name}: exists (re-sent request)`);
    throw lookupErr;
  }
  if (!matches(attr)) throw new TsmfsError(Status.EEXIST, `${body.name}: exists`);
  return { attr };
}

/**
 * The rwx bits the master gives a node made by `body` (posix_acl_create_masq, as
 * master/src/acl/acl-table.ts createPermBits): the mode less the umask, or under a
 * parent with a default ACL the mode masked by it. rwx only: setgid inheritance from the
 * parent may add 02000 to a directory.
 */
async function createdPerms(probe: Probe, body: { cred: Request<'getxattr'>['cred']; parent: number; mode: number; umask: number }): Promise<number> {
  let dflt: ReturnType<typeof decodeAclXattr>;
  try {
    dflt = decodeAclXattr((await probe.call('getxattr', { cred: body.cred, inode: body.parent, name: ACL_DEFAULT_XATTR })).value);
  } catch (err) {
    // None there, or a master that keeps no ACLs (ENOTSUP) or no xattrs (ENOSYS): the umask applied.
    if (isTsmfsError(err, 'ENODATA') || isTsmfsError(err, 'ENOTSUP') || isTsmfsError(err, 'ENOSYS')) dflt = null;
    else throw err;
  }
  return dflt ? body.mode & aclMode(dflt).mode : body.mode & ~body.umask & 0o777;
}

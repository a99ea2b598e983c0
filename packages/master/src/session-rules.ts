import { type Cred, type InodeRole, Messages, O_ACCMODE, O_TRUNC, ROOT_INODE, type Request, type SessionKind, type SessionMessage, Status, TsmfsError } from '@tsmfs/protocol';
import { ExportScope } from './export-scope.js';
import type { ExportRule } from './exports.js';
import type { Session } from './sessions.js';

/**
 * The export's rules for one client request, read from the catalogue's declarations
 * (packages/protocol/src/messages.ts) before any handler runs, so that a request cannot
 * be served without them: the kind of session it needs, EROFS for a change on a
 * read-only session, every inode it names inside the session's export (so that nothing
 * is read, changed, linked, renamed or snapshotted across the export's boundary), the
 * caller's credentials mapped by maproot/mapall. Returns the request as the handler
 * must see it.
 */
export function admit<N extends SessionMessage>(session: Session, name: N, body: Request<N>, scope: ExportScope): Request<N> {
  const spec = Messages[name];
  checkSessionKind(session, name, spec.session);
  if (session.readonly && changes(name, body)) {
    throw new TsmfsError(Status.EROFS, `session ${session.id} is read-only (export rule ${session.rule.where})`);
  }
  const req = ExportScope.confines(session) ? confine(session, spec.inodes as Readonly<Record<string, InodeRole>>, body, scope) : body;
  if (!('cred' in spec.req.fields)) return req;
  const withCred = req as Request<N> & { cred: Cred };
  return { ...withCred, cred: mapCred(session.rule, withCred.cred) };
}

/**
 * Checks every inode field against the export. As in MooseFS, inode 1 names the
 * session's own root on a subfolder session: its mount shows its root as inode 1, and
 * the tools send what the mount shows.
 */
function confine<R extends object>(session: Session, inodes: Readonly<Record<string, InodeRole>>, body: R, scope: ExportScope): R {
  let req = body;
  for (const field in inodes) {
    const inode = (body as Record<string, number>)[field]!;
    if (inode === ROOT_INODE && !session.meta) req = { ...req, [field]: session.root };
    else scope.check(session, inode, inodes[field]!);
  }
  return req;
}

function checkSessionKind(session: Session, name: SessionMessage, kind: Exclude<SessionKind, 'none'>): void {
  if (session.meta && kind === 'fs') {
    throw new TsmfsError(Status.EPERM, `${name} is not served on a meta session (it holds trash and sustained files only)`);
  }
  if (!session.meta && kind === 'meta') {
    throw new TsmfsError(Status.EPERM, `${name} needs a meta session (mount with -m; exports rule with '.')`);
  }
}

/** Whether a request changes metadata (the catalogue's `mutates`); `open` does when it opens for writing or truncates. */
export function changes(name: SessionMessage, body: object): boolean {
  const mutates = Messages[name].mutates;
  if (mutates !== 'if-writing') return mutates;
  const flags = (body as { flags: number }).flags;
  return (flags & O_ACCMODE) !== 0 || (flags & O_TRUNC) !== 0;
}

/** mapall maps everyone; maproot maps uid 0 (MooseFS semantics). */
export function mapCred(rule: ExportRule, cred: Cred): Cred {
  const to = rule.mapall ?? (cred.uid === 0 ? rule.maproot : undefined);
  if (!to) return cred;
  if (to.uid === cred.uid && to.gid === cred.gid) return cred;
  return { uid: to.uid, gid: to.gid, groups: [to.gid] };
}

/** setgoal/settrashtime values are clamped into the rule's bounds (MooseFS refuses instead; docs/master.md). */
export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

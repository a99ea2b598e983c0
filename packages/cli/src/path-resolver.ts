import { basename, dirname, posix, resolve } from 'node:path';
import { MasterSession } from '@tsmfs/client';
import { TsmfsError } from '@tsmfs/protocol';
import { MasterUnavailableError } from './exit-codes.js';
import { type MasterInfo, findMount } from './master-info.js';

/** A PATH given to a tool, resolved to the session that serves it and its inode. */
export interface ToolTarget {
  path: string;
  session: MasterSession;
  inode: number;
  isDirectory: boolean;
  /** Which file system it is in: snapshots and appendchunks need both ends in one. */
  fs: string;
}

/** How the tools turn PATHs into (session, inode). */
export interface PathResolver {
  resolve(path: string): Promise<ToolTarget>;
  /** A path that may not exist yet: its parent directory, resolved, and the last name. */
  resolveNew(path: string): Promise<{ parent: ToolTarget; name: string }>;
  close(): void;
}

/**
 * Paths inside tsmfs mounts: the mount is found by its .masterinfo, the inode is the
 * path's st_ino (a tsmfs mount reports tsmfs inodes), and one tool session per mount
 * is opened with role 'cli', attached to the mount's session so that the tool acts with
 * the mount's export rights (docs/cli.md).
 */
export class MountPathResolver implements PathResolver {
  private readonly sessions = new Map<string, Promise<MasterSession>>();

  async resolve(path: string): Promise<ToolTarget> {
    const m = await findMount(path);
    const session = await this.sessionFor(m.root, m.info);
    return { path, session, inode: m.inode, isDirectory: m.isDirectory, fs: m.root };
  }

  async resolveNew(path: string): Promise<{ parent: ToolTarget; name: string }> {
    const abs = resolve(path);
    return { parent: await this.resolve(dirname(abs)), name: basename(abs) };
  }

  close(): void {
    for (const s of this.sessions.values()) void s.then((x) => x.close(), () => undefined);
    this.sessions.clear();
  }

  private sessionFor(root: string, info: MasterInfo): Promise<MasterSession> {
    let s = this.sessions.get(root);
    if (!s) {
      s = openToolSession(info, root);
      this.sessions.set(root, s);
    }
    return s;
  }
}

async function openToolSession(info: MasterInfo, root: string): Promise<MasterSession> {
  try {
    return await MasterSession.open({
      masters: info.masters,
      subdir: info.subdir,
      role: 'cli',
      attach: info.sessionId,
      mountpoint: root,
      name: `tsmfs-tools@${process.pid}`,
      reconnectTimeoutMs: 10_000,
    });
  } catch (err) {
    const why = err instanceof TsmfsError ? err.message : (err as Error).message;
    throw new MasterUnavailableError(`${root}: cannot reach the master of this mount (${info.masters.map((m) => `${m.host}:${m.port}`).join(', ')}): ${why}`);
  }
}

/**
 * Paths resolved through a session, for tests and tools run without a mount: `prefix`
 * stands for the session's root (e.g. '/mnt/tsmfs'), paths below it are looked up.
 */
export class SessionPathResolver implements PathResolver {
  constructor(
    private readonly session: MasterSession,
    private readonly prefix = '/',
  ) {}

  async resolve(path: string): Promise<ToolTarget> {
    const attr = await this.session.resolve(this.inner(path));
    return { path, session: this.session, inode: attr.inode, isDirectory: attr.type === 'dir', fs: this.prefix };
  }

  async resolveNew(path: string): Promise<{ parent: ToolTarget; name: string }> {
    const inner = this.inner(path);
    return { parent: await this.resolve(posix.join(this.prefix, posix.dirname(inner))), name: posix.basename(inner) };
  }

  close(): void {}

  private inner(path: string): string {
    const abs = posix.resolve(this.prefix, path);
    const rel = posix.relative(this.prefix, abs);
    if (rel.startsWith('..')) throw new Error(`${path}: not inside ${this.prefix}`);
    return `/${rel}`;
  }
}

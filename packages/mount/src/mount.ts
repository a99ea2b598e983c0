import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { MasterSession } from '@tsmfs/client';
import { type ConnectionInfo, FUSE_CAP_DONT_MASK, FUSE_CAP_HANDLE_KILLPRIV, FUSE_CAP_POSIX_ACL, FuseSession, type LowLevelOps } from '@tsmfs/fuse';
import type { Logger } from 'pino';
import { HiddenEntries, type MasterInfo } from './hidden-entries.js';
import { InodeMap } from './kernel-attr.js';
import { MetaOps } from './meta-ops.js';
import type { MountConfig } from './mount-options.js';
import { LeaseRenewal } from './lease-renewal.js';
import { MountOps } from './mount-ops.js';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * Kernel request sizes: writes and reads up to 1 MiB (FUSE 3; the kernel's max_pages
 * follows max_write): an O_DIRECT read of 1 MiB is one request, not eight. The kernel
 * caps its own read-ahead below max_readahead (256 KiB requests here).
 */
const IO_OPTIONS = ['max_write=1048576', 'max_read=1048576', 'max_readahead=1048576'];

export interface RunningMount {
  /** Resolves when the mount is gone (fusermount -u, a signal, or stop()) and everything is closed. */
  ended: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Opens the session (a refusal rejects with the master's reason), mounts, and serves
 * until unmounted. Nothing here blocks the event loop: the kernel's requests arrive as
 * calls of the handlers, each awaiting the master or the chunkservers.
 */
export async function startMount(config: MountConfig, log: Logger): Promise<RunningMount> {
  const mountpoint = resolve(config.mountpoint);
  const session = await MasterSession.open({
    masters: config.masters,
    subdir: config.subdir,
    meta: config.meta,
    readonly: config.readonly,
    password: config.password,
    hostname: hostname(),
    mountpoint,
    name: `tsmfs-mount@${hostname()}:${process.pid}`,
    reconnectTimeoutMs: config.masterTimeoutSec * 1000,
    leases: !config.meta,
  });
  session.on('disconnect', (err) => log.warn({ err: err?.message }, 'master link lost; operations wait for a reconnect'));
  session.on('reconnect', (info) => log.info({ sessionId: info.sessionId, master: info.master }, 'master link back'));

  const masterInfo = (): MasterInfo => ({
    masters: config.masters.map((m) => ({ host: m.host, port: m.port })),
    sessionId: session.sessionId,
    subdir: config.subdir,
    mountpoint,
    version: VERSION,
  });
  let stats = (): string => '';
  const hidden = new HiddenEntries(masterInfo, () => stats());
  let ops: LowLevelOps;
  let closeFiles = async (): Promise<void> => {};
  if (config.meta) {
    ops = new MetaOps(session, hidden, config.attrTimeoutSec);
  } else {
    const m = new MountOps(session, hidden, config);
    ops = m;
    const renewal = new LeaseRenewal(session, m.cache.leases, (op) => m.counters.count(op));
    renewal.start();
    closeFiles = () => (renewal.stop(), m.closeAll());
    stats = () => statsText(m, session, fuse.noXattrsAnswered());
  }

  const mountOptions = [
    `fsname=tsmfs#${config.masters.map((m) => `${m.host}:${m.port}`).join(',')}`,
    'subtype=tsmfs',
    ...(config.allowOther ? ['allow_other'] : []),
    ...(config.meta ? [] : ['default_permissions']),
    ...IO_OPTIONS,
    ...config.fuseOptions.filter((o) => !IO_OPTIONS.some((io) => io.split('=')[0] === o.split('=')[0])),
  ];
  // The master clears setuid/setgid on a write, truncate or chown by a non-root caller
  // (docs/metadata.md), so the kernel need not send its kill-priv setattr first.
  // POSIX ACLs are enforced by the kernel as well as the master (docs/mount.md, "Multi-user"),
  // unless -o noacl or the kernel cannot.
  const fuse = new FuseSession(mountpoint, ops, { mountOptions, handleKillpriv: !config.meta, posixAcl: !config.meta && config.posixAcl });
  fuse.on('error', (err) => log.error({ err: err.message, op: (err as { op?: string }).op }, 'handler failed'));
  // Leases recalled by the master are invalidated in the kernel too.
  if (ops instanceof MountOps) {
    const m = ops;
    m.kernelCaches = fuse;
    // The getxattr and listxattr of inodes leased as having no xattrs are answered by the
    // binding itself, without a call into JS (docs/mount.md, "Leases").
    const inodes = new InodeMap(session.root);
    m.cache.leases.noXattrsMirror = {
      set: (inode, until) => void fuse.answerNoXattrs(inodes.toKernel(inode), until - performance.now()),
      drop: (inode) => fuse.forgetNoXattrs(inodes.toKernel(inode)),
      clear: () => fuse.forgetNoXattrs(),
    };
    fuse.on('init', (c: ConnectionInfo) => {
      m.kernelAppliesUmask = (c.want & FUSE_CAP_DONT_MASK) === 0;
      m.kernelChecksAcls = (c.want & FUSE_CAP_POSIX_ACL) !== 0;
      log.info({ posixAcl: m.kernelChecksAcls, handleKillpriv: (c.want & FUSE_CAP_HANDLE_KILLPRIV) !== 0 }, 'kernel connection');
    });
  }
  try {
    await fuse.mount();
  } catch (err) {
    session.close();
    throw err;
  }
  log.info({ mountpoint, sessionId: session.sessionId, master: session.info.master }, 'mounted');

  let ending: Promise<void> | undefined;
  const finish = (): Promise<void> =>
    (ending ??= (async () => {
      await closeFiles();
      session.close();
    })());
  const ended = new Promise<void>((resolveEnded) => {
    fuse.on('unmounted', ({ requested }) => {
      log.info({ requested }, 'unmounted');
      void finish().then(resolveEnded);
    });
  });
  return {
    ended,
    async stop() {
      await fuse.unmount();
      await ended;
    },
  };
}

/** `inBinding`: xattr requests the binding answered itself, counted as the mount's own answers would be. */
function statsText(m: MountOps, session: MasterSession, inBinding: { getxattr: number; listxattr: number }): string {
  const lines = [
    `session_id: ${session.sessionId}`,
    `master_connected: ${session.connected ? 1 : 0}`,
    `master_reconnects: ${session.stats.reconnects}`,
    `master_resent: ${session.stats.resent}`,
    `open_files: ${m.files.count}`,
    `cache_hits: ${m.cache.hits}`,
    `cache_misses: ${m.cache.misses}`,
    `write_retries: ${session.io.stats.writeRetries}`,
    `read_fallbacks: ${session.io.stats.readFallbacks}`,
    `lock_waits: ${m.locks.stats.waits}`,
    `lock_waits_interrupted: ${m.locks.stats.interrupted}`,
  ];
  const ops = new Map(m.counters.ops);
  const add = (op: string, n: number) => n > 0 && ops.set(op, (ops.get(op) ?? 0) + n);
  add('getxattr', inBinding.getxattr);
  add('getxattr_leased_missing', inBinding.getxattr);
  add('listxattr', inBinding.listxattr);
  for (const [op, n] of [...ops].sort()) lines.push(`op_${op}: ${n}`);
  return lines.join('\n') + '\n';
}

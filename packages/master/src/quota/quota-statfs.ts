import type { Reply } from '@tsmfs/protocol';
import type { Metadata } from '../metadata/metadata.js';
import type { QuotaKind } from './quota-table.js';

/** Space limits in the order statfs prefers them: realsize is raw disk space, like the chunkservers' totals. */
const SPACE_KINDS: readonly QuotaKind[] = ['realsize', 'size', 'length'];

/**
 * statfs of a session whose root directory has a hard space quota (a mount of a
 * subdirectory, as MooseFS does it): the quota is the file system's size and what is
 * left of it the free space, never more than the chunkservers have.
 */
export function quotaStatfs(md: Metadata, root: number, reply: Reply<'statfs'>): Reply<'statfs'> {
  const q = md.quotas.get(root);
  const kind = q && SPACE_KINDS.find((k) => q.hard[k] !== undefined);
  if (!q || kind === undefined) return reply;
  const limit = q.hard[kind]!;
  const left = Math.max(0, limit - q.usage[kind]);
  return { ...reply, totalSpace: Math.min(reply.totalSpace, limit), availSpace: Math.min(reply.availSpace, left) };
}

import type { Cred } from '@tsmfs/protocol';

/**
 * The credentials of this process, the default for every request a session sends
 * (a FUSE mount passes the kernel's per-request cred instead).
 */
export function processCred(): Cred {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const groups = (process.getgroups?.() ?? []).filter((g) => g !== gid);
  return { uid, gid, groups };
}

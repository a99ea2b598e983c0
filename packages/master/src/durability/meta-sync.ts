import type { Reply } from '@tsmfs/protocol';
import type { Changelog } from '@tsmfs/metastore';

/**
 * A client's fsync(2)/fsyncdir: the changelog up to the version the master holds now is
 * fsynced before the answer, in every CHANGELOG_SAVE_MODE. Every change this session was
 * answered for is at or below that version (answers go out after the change is applied),
 * and so is any change of another session it could have seen. MooseFS's fsync does not
 * wait for its changelog at all.
 */
export async function metaSync(changelog: Changelog): Promise<Reply<'metaSync'>> {
  const version = changelog.version;
  await changelog.durable(version);
  return { version };
}

// @tsmfs/metastore: the metadata's life on disk and on the follower link, shared by the
// master, the metalogger and (issue 12) shadow masters. It knows changelog lines, dump
// envelopes and DATA_PATH's files; it does not know the namespace (a mutation is an
// op-named object here, a dump payload is bytes).
export * from './changelog-entry.js';
export * from './changelog.js';
export * from './changelog-reader.js';
export * from './data-path.js';
export * from './data-lock.js';
export * from './dump-file.js';
export * from './dump-download.js';
export * from './metadata-store.js';
export * from './changelog-follower.js';
export { fsyncDir } from './fsync-dir.js';

export * from './config.js';
export * from './exports.js';
export * from './sessions.js';
export * from './master.js';
export { Changelog } from './durability/changelog.js';
export { replayChangelogs, readChangelogFile, ChangelogError } from './durability/changelog-reader.js';
export { encodeEntry, decodeEntry } from './durability/changelog-entry.js';
export { MetadataStore } from './durability/metadata-store.js';
export * from './durability/data-path.js';

export { startMount, VERSION, type RunningMount } from './mount.js';
export { mountConfig, parseMasters, splitOptions, type MountConfig } from './mount-options.js';
export { MASTERINFO_INODE, MASTERINFO_NAME, STATS_INODE, STATS_NAME, type MasterInfo } from './hidden-entries.js';
export { metaName, metaInode, META_TRASH_INODE, META_UNDEL_INODE, META_SUSTAINED_INODE } from './meta-ops.js';

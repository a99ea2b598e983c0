export * from './config.js';
export * from './metalogger.js';
export { MasterConn } from './master-conn.js';
export { MlChangelog } from './ml-changelog.js';
export { downloadDump } from './dump-download.js';

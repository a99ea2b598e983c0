export * from './config.js';
export * from './metalogger.js';
export { MlChangelog } from './ml-changelog.js';

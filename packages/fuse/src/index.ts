export { FuseSession, type ConnectionInfo, type FuseSessionOptions, type UnmountedEvent } from './session.js';
export { errnoOf } from './errno.js';
export * from './types.js';
export type * from './ops.gen.js';

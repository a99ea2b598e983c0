export * from './connection.js';
export * from './server.js';
export * from './dial.js';
export * from './address-list.js';
export * from './backoff.js';
export * from './leader-hint.js';

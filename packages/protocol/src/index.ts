export * from './constants.js';
export * from './status.js';
export * from './schema.js';
export * from './frame.js';
export * from './messages.js';
export * from './codec.js';
export * from './handshake.js';
export * from './data-frames.js';

export * from './connection.js';
export * from './server.js';
export * from './dial.js';

export * from './chunk-file.js';
export * from './hdd-config.js';
export * from './hdd-manager.js';
export * from './data-server.js';
export * from './config.js';
export * from './chunkserver.js';
export * from './replication.js';
export * from './master-link.js';

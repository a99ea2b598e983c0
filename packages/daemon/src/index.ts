export * from './config.js';
export * from './logger.js';
export * from './service.js';
export * from './daemon-main.js';
export * from './link-limits.js';
export * from './nice.js';

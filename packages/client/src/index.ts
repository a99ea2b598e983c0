export * from './master-session.js';
export { passwordDigest } from './password.js';
export { processCred } from './cred.js';
export { resolveResent } from './resend.js';

export * from './master-session.js';
export { passwordDigest } from './password.js';
export { processCred } from './cred.js';
export { resolveResent } from './resend.js';
export { FileHandle, type FileHandleOptions, O_RDWR, O_WRONLY } from './file-handle.js';
export { FileIo, type WriteEndAttr } from './file-io.js';
export { DirtyExtents } from './dirty-extents.js';

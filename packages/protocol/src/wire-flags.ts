/**
 * Flag values carried in `open.flags`, `rename.flags` and `setxattr.flags`. They are
 * Linux's own numbers, because the mount passes the kernel's flags through unchanged.
 */
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_ACCMODE = 3;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

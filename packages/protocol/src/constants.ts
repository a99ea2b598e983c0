/** Wire protocol version; a peer speaking another one is refused at the handshake. */
export const PROTOCOL_VERSION = 1;

/** MooseFS's well-known ports, kept so that operators' firewall rules carry over. */
export const DEFAULT_PORTS = {
  /** master ← metaloggers and shadow masters */
  matoml: 9419,
  /** master ← chunkservers */
  matocs: 9420,
  /** master ← clients and CLI tools */
  matocl: 9421,
  /** chunkserver ← clients and other chunkservers */
  csserv: 9422,
  /** master HTTP: web monitor, JSON API, /metrics */
  http: 9425,
} as const;

export const CHUNK_SIZE = 64 * 1024 * 1024;
export const BLOCK_SIZE = 64 * 1024;
export const BLOCKS_PER_CHUNK = CHUNK_SIZE / BLOCK_SIZE;

/**
 * Bytes before a chunk file's data on a chunkserver's disk (its header: signature, version,
 * CRC table). MooseFS's tools count 8 KiB per chunk too in a file's size (mfsdirinfo,
 * mfsgetquota: a 1-byte file's size is 73728), so the master's size counts it.
 */
export const CHUNK_HEADER_SIZE = 8192;

/**
 * The largest file: 2^52 bytes (4 PiB), 2^26 chunks. MooseFS allows 2^31 chunks (128 PiB),
 * but lengths here are JavaScript numbers, exact up to 2^53 and sent as u53: 2^52 keeps
 * every offset + length within a file exact. Writes, truncates and setattr sizes beyond
 * it are EFBIG, at the mount and at the master.
 */
export const MAX_FILE_SIZE = 2 ** 52;
export const MAX_CHUNK_INDEX = MAX_FILE_SIZE / CHUNK_SIZE - 1;

/** Bytes of the fixed frame header: type u32, body length u32, request id u32. */
export const FRAME_HEADER_SIZE = 12;

/**
 * Largest body a control link accepts. Control bodies are small (a readdir page is
 * the largest); anything bigger is hostile or broken and closes the connection.
 */
export const MAX_CONTROL_BODY = 4 * 1024 * 1024;

/** Largest body on a data link: one block plus its binary header, with room to spare. */
export const MAX_DATA_BODY = BLOCK_SIZE * 16 + 4096;

/** The root directory's inode number, as in MooseFS. */
export const ROOT_INODE = 1;

export const MAX_NAME_LENGTH = 255;
export const MAX_PATH_LENGTH = 4096;
export const MAX_SYMLINK_LENGTH = 4096;
export const MAX_GOAL = 9;
export const MAX_XATTR_NAME = 255;
export const MAX_XATTR_VALUE = 65536;

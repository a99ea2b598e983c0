export { runTsmfs, type ToolsEnv } from './tsmfs-command.js';
export { runTsmfsCli, type CliEnv } from './tsmfs-cli-command.js';
export { MountPathResolver, SessionPathResolver, type PathResolver, type ToolTarget } from './path-resolver.js';
export { findMount, parseMasterInfo, type MasterInfo } from './master-info.js';
export { EXIT } from './exit-codes.js';
export { formatNumber, type NumberFormat } from './number-format.js';
export { fileinfoLines, chunkName } from './tools/chunk-tools.js';
export type { ToolIo } from './tool-io.js';

export { type AddChunkserversOptions, Cluster, type ClusterOptions } from './cluster.js';
export { makeTempDir } from './temp-dirs.js';
export { type ConfigEntries, writeConfig } from './config-file.js';
export { DaemonProcess, type ExitInfo, type LogLine, type SpawnOptions } from './daemon-process.js';
export {
  Chunkserver,
  type ChunkserverOptions,
  Master,
  type MasterOptions,
  type MasterPorts,
  Metalogger,
  type MetaloggerOptions,
  OPEN_EXPORTS,
  openSession,
} from './daemons.js';
export { killEverythingNow, live, stopEverything, type StopOptions } from './live.js';
export { Mount, type MountOptions, fuseUnmount, waitForMount } from './mount.js';
export { freePort, freePorts, freePortBlock } from './ports.js';
export { BIN, REPO_ROOT } from './paths.js';
export { alive, childPids, cpuSeconds, isMounted, rssBytes, waitForPids } from './procfs.js';
export { settings } from './settings.js';
export { changelogVersionsIn } from './changelog-files.js';
export { ETCD_BIN, Etcd, type EtcdOptions } from './etcd.js';
export { type GroupStatus, HaGroup, type HaGroupOptions, caughtUp, metrics, status } from './ha-group.js';
export { until, untilValue } from './poll.js';
export { DrillWorkload, type DrillOp, type DrillOptions, type DrillReport, checkDrill } from './failover-drill.js';

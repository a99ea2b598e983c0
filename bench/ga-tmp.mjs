// node ga.mjs N [profdir] : N sequential getattrs through one MasterSession; master CPU per request
import { mkdtempSync } from 'node:fs'; import { join } from 'node:path'; import { tmpdir } from 'node:os';
import { settings } from '@tsmfs/launcher';
import { startDataCluster, stopCluster } from '/work/main/bench/lib/cluster.js';
import { cpuSeconds } from '/work/main/bench/lib/daemons.js';
const [nS, prof] = process.argv.slice(2); const N = Number(nS);
if (prof) settings.nodeFlags = ['--cpu-prof', '--cpu-prof-dir=' + prof];
const cl = await startDataCluster(mkdtempSync(join(tmpdir(), 'ga-')), { chunkservers: 0, masterConfig: { CHANGELOG_SAVE_MODE: 1 } });
const s = cl.session; const root = s.root;
const op = process.env.OP ?? 'getattr';
const run = async (n) => { const t = performance.now(); for (let i = 0; i < n; i++) await (op === 'getattr' ? s.getattr(root) : s.mkdir({ parent: root, name: `d${i}_${Math.random()}`, mode: 0o755 })); return performance.now() - t; };
await run(N / 2);
const pid = cl.master.child.pid; const c0 = cpuSeconds(pid); const u0 = process.cpuUsage();
const ms = await run(N);
const c1 = cpuSeconds(pid); const u1 = process.cpuUsage(u0);
console.log(JSON.stringify({ op, N, usPerReq: Math.round(ms * 1000 / N), masterCpuUs: Math.round((c1 - c0) * 1e6 / N), clientCpuUs: Math.round((u1.user + u1.system) / N) }));
await stopCluster(cl);

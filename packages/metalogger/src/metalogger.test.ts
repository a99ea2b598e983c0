import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MasterSession } from '@tsmfs/client';
import { type Service, loadConfig, startAll, stopAll } from '@tsmfs/daemon';
import { buildMaster, canonicalState, decodeDump, masterSchema, restore } from '@tsmfs/master';
import { decodeEntry } from '@tsmfs/metastore';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { metaloggerSchema } from './config.js';
import { buildMetalogger } from './metalogger.js';

const log = pino({ level: 'silent' });
const running: Service[][] = [];
afterEach(async () => {
  for (const s of running.splice(0).reverse()) await stopAll(s, log);
});

/** An in-process master on ephemeral ports over DATA_PATH `dir`. */
async function startMaster(dir: string, matoml = 0) {
  const config = { ...loadConfig(masterSchema, undefined).values, DATA_PATH: dir, EXPORTS_FILENAME: join(dir, 'none.cfg') };
  Object.assign(config, { MATOCL_LISTEN_HOST: '127.0.0.1', MATOCL_LISTEN_PORT: 0, MATOML_LISTEN_HOST: '127.0.0.1', MATOML_LISTEN_PORT: matoml });
  const master = buildMaster(config, log);
  await startAll(master.services, log);
  running.push(master.services);
  return master;
}

async function startMetalogger(dir: string, port: number): Promise<Service[]> {
  const config = { ...loadConfig(metaloggerSchema, undefined).values, DATA_PATH: dir, MASTER_HOST: '127.0.0.1', MASTER_PORT: port, MASTER_RECONNECTION_DELAY: 1 };
  const services = buildMetalogger(config, log);
  await startAll(services, log);
  running.push(services);
  return services;
}

function lastVersion(dir: string): number {
  const text = readFileSync(join(dir, 'changelog_ml.0.tsmfs'), 'utf8').trimEnd();
  return text === '' ? 0 : decodeEntry(text.slice(text.lastIndexOf('\n') + 1)).version;
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('tsmfs-metalogger against an in-process master', () => {
  it('downloads the dump at start, follows the changelog, resumes after the master restarts, and restores to the same state', async () => {
    const mdir = mkdtempSync(join(tmpdir(), 'tsmfs-m-'));
    const mldir = mkdtempSync(join(tmpdir(), 'tsmfs-ml-'));
    let master = await startMaster(mdir);
    const port = master.metaloggerLink.port;
    await startMetalogger(mldir, port);
    const s = await MasterSession.open({ masters: [{ host: '127.0.0.1', port: master.clientLink.port }], cred: { uid: 0, gid: 0, groups: [] } });
    for (let i = 0; i < 50; i++) await s.create(1, `a${i}`);
    // Version 1 is the session's record (docs/ha.md, "What survives a takeover"), 2..51 the creates.
    await until(() => readdirSync(mldir).includes('changelog_ml.0.tsmfs') && lastVersion(mldir) === 51);
    expect(readdirSync(mldir)).toContain('metadata_ml.tsmfs');
    s.close();

    await stopAll(running.shift()!, log); // master stops (dump, rotation); the metalogger keeps trying
    master = await startMaster(mdir, port);
    const s2 = await MasterSession.open({ masters: [{ host: '127.0.0.1', port: master.clientLink.port }], cred: { uid: 0, gid: 0, groups: [] } });
    for (let i = 0; i < 30; i++) await s2.mkdir(1, `b${i}`);
    s2.close();
    // The second session's record, then 30 mkdirs.
    await until(() => lastVersion(mldir) === 82);
    await stopAll(running.pop()!, log); // metalogger
    await stopAll(running.pop()!, log); // master: shutdown dump at version 82

    const versions = readFileSync(join(mldir, 'changelog_ml.0.tsmfs'), 'utf8').trimEnd().split('\n').map((l) => decodeEntry(l).version);
    expect(versions).toEqual(Array.from({ length: 82 }, (_, i) => i + 1));
    const out = join(mldir, 'restored.tsmfs');
    const r = restore({ dump: join(mldir, 'metadata_ml.tsmfs'), changelogs: [join(mldir, 'changelog_ml.0.tsmfs')], out });
    expect(r.version).toBe(82);
    expect(canonicalState(decodeDump(readFileSync(out)))).toEqual(canonicalState(decodeDump(readFileSync(join(mdir, 'metadata.tsmfs')))));
  });
});

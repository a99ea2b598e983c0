import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '@tsmfs/daemon';
import { describe, expect, it } from 'vitest';
import { type MasterConfig, checkDataPath, configTable, masterSchema, parseRepLimit, replicationLimits } from './config.js';

const REPO_ROOT = join(import.meta.dirname, '../../..');

describe('master configuration', () => {
  it('docs/configuration.md carries the schema as it is', () => {
    const doc = readFileSync(join(REPO_ROOT, 'docs/configuration.md'), 'utf8');
    const block = /<!-- master-config:start -->\n([\s\S]*?)\n<!-- master-config:end -->/.exec(doc)?.[1];
    expect(block, 'regenerate with: node packages/master/dist/bin/config-table.js').toBe(configTable());
  });

  it('names a bad value by file, line and key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-cfg-'));
    const file = join(dir, 'm.cfg');
    writeFileSync(file, '# c\nMETADATA_SAVE_FREQ = 0\n');
    expect(() => loadConfig(masterSchema, file)).toThrow(`${file}:2: METADATA_SAVE_FREQ: 0 is out of range (1..576)`);
  });

  it('refuses a DATA_PATH that does not exist or is not a directory, naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-cfg-'));
    const config = (DATA_PATH: string) => ({ ...loadConfig(masterSchema, undefined).values, DATA_PATH }) as MasterConfig;
    expect(() => checkDataPath(config(join(dir, 'nope')))).toThrow(ConfigError);
    expect(() => checkDataPath(config(join(dir, 'nope')))).toThrow(`DATA_PATH ${join(dir, 'nope')} does not exist`);
    writeFileSync(join(dir, 'file'), '');
    expect(() => checkDataPath(config(join(dir, 'file')))).toThrow(`DATA_PATH ${join(dir, 'file')} is not a directory`);
    expect(() => checkDataPath(config(dir))).not.toThrow();
  });

  it('reads CHUNKS_WRITE_REP_LIMIT / CHUNKS_READ_REP_LIMIT as MooseFS 3.0: defaults 2,1,1,4 and 10,5,2,5; one value sets all four', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-cfg-'));
    const file = join(dir, 'm.cfg');
    const read = (text: string) => replicationLimits(loadConfig(masterSchema, (writeFileSync(file, text), file)).values);
    expect(read('')).toEqual({ limits: { writesPerServer: [2, 1, 1, 4], readsPerServer: [10, 5, 2, 5], global: 50, deletesPerServer: 10 }, notes: [] });
    const old = read('CHUNKS_WRITE_REP_LIMIT = 3\nCHUNKS_READ_REP_LIMIT = 8 , 4,2 ,6\n');
    expect(old.limits.writesPerServer).toEqual([3, 3, 3, 3]);
    expect(old.limits.readsPerServer).toEqual([8, 4, 2, 6]);
    expect(old.notes).toEqual(['CHUNKS_WRITE_REP_LIMIT = 3 is the format before MooseFS 3.0: all four limits (endangered, under goal, rebalancing near, far) are 3']);
    expect(parseRepLimit('X', '1.5,0,0,0').limits).toEqual([1.5, 0, 0, 0]);
    for (const bad of ['', '2,1,1', '2,1,1,4,5', '2;1;1;4', '-1', '2,,1,4', 'x', '2,1,1,1001', '1e3']) {
      expect(() => parseRepLimit('CHUNKS_WRITE_REP_LIMIT', bad), bad).toThrow(ConfigError);
    }
    // In a file: refused at load, naming file, line and key, as any bad value (a reload then applies nothing).
    expect(() => read('# x\nCHUNKS_READ_REP_LIMIT = 10,5,2\n')).toThrow(`${file}:2: CHUNKS_READ_REP_LIMIT: '10,5,2' is not one limit or four separated by commas`);
  });
});

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '@tsmfs/daemon';
import { describe, expect, it } from 'vitest';
import { type MasterConfig, checkDataPath, configTable, masterSchema } from './config.js';

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
});

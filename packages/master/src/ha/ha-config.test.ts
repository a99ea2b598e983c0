import { ConfigError, loadConfig } from '@tsmfs/daemon';
import { describe, expect, it } from 'vitest';
import { type MasterConfig, masterSchema } from '../config.js';
import { haSettings } from './ha-config.js';

const config = (keys: Partial<MasterConfig>): MasterConfig => ({ ...loadConfig(masterSchema, undefined).values, ...keys }) as MasterConfig;

describe('HA keys', () => {
  it('without HA_ETCD_ENDPOINTS the master runs alone, whatever the other HA keys say', () => {
    expect(haSettings(config({}))).toBeUndefined();
    expect(haSettings(config({ HA_ETCD_ENDPOINTS: '  ', HA_CLUSTER_NAME: 'not a name!' }))).toBeUndefined();
  });

  it('takes host, host:port, http:// URLs and IPv6 as etcd endpoints, with the defaults', () => {
    expect(haSettings(config({ HA_ETCD_ENDPOINTS: 'http://10.0.0.1:2379, etcd2 ,[::1]:12379' }))).toEqual({
      endpoints: ['http://10.0.0.1:2379', 'http://etcd2:2379', 'http://[::1]:12379'],
      cluster: 'tsmfs',
      ttlSec: 3,
      syncStandbys: 0,
      syncTimeoutMs: 2000,
    });
    expect(haSettings(config({ HA_ETCD_ENDPOINTS: 'e', HA_SYNC_STANDBYS: 2 }))?.syncStandbys).toBe(2);
  });

  it('refuses bad endpoints and a bad cluster name, naming the key', () => {
    expect(() => haSettings(config({ HA_ETCD_ENDPOINTS: 'https://e:2379' }))).toThrow(ConfigError);
    expect(() => haSettings(config({ HA_ETCD_ENDPOINTS: 'e:99999' }))).toThrow(/^HA_ETCD_ENDPOINTS: /);
    expect(() => haSettings(config({ HA_ETCD_ENDPOINTS: 'e', HA_CLUSTER_NAME: 'a/b' }))).toThrow(/^HA_CLUSTER_NAME: /);
  });

  it('validates the ranges in the schema (HA_LEASE_TTL from 1 s: etcd raises it to its minimum)', () => {
    expect(masterSchema.HA_LEASE_TTL).toMatchObject({ min: 1, max: 60 });
    expect(masterSchema.HA_SYNC_STANDBYS).toMatchObject({ min: 0, max: 16 });
  });
});

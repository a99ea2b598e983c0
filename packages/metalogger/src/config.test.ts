import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeConfigMarkdown } from '@tsmfs/daemon';
import { describe, expect, it } from 'vitest';
import { masterAddresses } from './config.js';

describe('metalogger configuration', () => {
  it('docs/configuration.md carries the schema as it is', async () => {
    const { metaloggerSchema } = await import('./config.js');
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/configuration.md'), 'utf8');
    const block = /<!-- metalogger-config:start -->\n([\s\S]*?)\n<!-- metalogger-config:end -->/.exec(doc)?.[1];
    expect(block, 'regenerate with: node packages/metalogger/dist/bin/config-table.js').toBe(describeConfigMarkdown(metaloggerSchema));
  });

  it('reads MASTER_HOST as a list of HOST or HOST:PORT', () => {
    expect(masterAddresses({ MASTER_HOST: 'a, b:9519,[::1]:7, [fe80::1]', MASTER_PORT: 9419 })).toEqual([
      { host: 'a', port: 9419 },
      { host: 'b', port: 9519 },
      { host: '::1', port: 7 },
      { host: 'fe80::1', port: 9419 },
    ]);
    expect(() => masterAddresses({ MASTER_HOST: ' , ', MASTER_PORT: 9419 })).toThrow(/MASTER_HOST: no address given/);
    expect(() => masterAddresses({ MASTER_HOST: 'a:99999', MASTER_PORT: 9419 })).toThrow(/'a:99999' has a port outside 1..65535/);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, describeConfig, key, loadConfig } from './config.js';

const schema = {
  DATA_PATH: key('path', '/var/lib/tsmfs', 'where metadata lives'),
  MATOCL_LISTEN_PORT: key('port', 9421, 'client port'),
  BACK_LOGS: key('int', 50, 'changelogs kept', { min: 0, max: 10000 }),
  CHANGELOG_FSYNC: key('bool', true, 'fsync the changelog'),
};

function file(text: string): string {
  const p = join(mkdtempSync(join(tmpdir(), 'tsmfs-cfg-')), 'test.cfg');
  writeFileSync(p, text);
  return p;
}

describe('config files', () => {
  it('uses defaults without a file and overrides with one', () => {
    expect(loadConfig(schema, undefined).values.MATOCL_LISTEN_PORT).toBe(9421);
    const f = file('# comment\n  MATOCL_LISTEN_PORT = 19421 # trailing\nCHANGELOG_FSYNC = no\nDATA_PATH=/tmp/x\n');
    expect(loadConfig(schema, f).values).toEqual({ DATA_PATH: '/tmp/x', MATOCL_LISTEN_PORT: 19421, BACK_LOGS: 50, CHANGELOG_FSYNC: false });
  });

  it('names file, line and key on a bad value', () => {
    const f = file('\n\nMATOCL_LISTEN_PORT = abc\n');
    expect(() => loadConfig(schema, f)).toThrow(ConfigError);
    expect(() => loadConfig(schema, f)).toThrow(`${f}:3: MATOCL_LISTEN_PORT: 'abc' is not an integer`);
    expect(() => loadConfig(schema, file('BACK_LOGS = 10001'))).toThrow(/BACK_LOGS: 10001 is out of range/);
    expect(() => loadConfig(schema, file('MATOCL_LISTEN_PORT = 70000'))).toThrow(/out of range \(0\.\.65535\)/);
    expect(() => loadConfig(schema, file('just words'))).toThrow(/:1: expected 'KEY = VALUE'/);
  });

  it('reads decimal numbers (MooseFS float keys) within their range', () => {
    const numbers = { ACCEPTABLE_PERCENTAGE_DIFFERENCE: key('number', 1, 'points', { min: 0.1, max: 10 }) };
    expect(loadConfig(numbers, file('ACCEPTABLE_PERCENTAGE_DIFFERENCE = 2.5\n')).values.ACCEPTABLE_PERCENTAGE_DIFFERENCE).toBe(2.5);
    expect(loadConfig(numbers, file('ACCEPTABLE_PERCENTAGE_DIFFERENCE = .5\n')).values.ACCEPTABLE_PERCENTAGE_DIFFERENCE).toBe(0.5);
    expect(() => loadConfig(numbers, file('ACCEPTABLE_PERCENTAGE_DIFFERENCE = 1e3\n'))).toThrow("'1e3' is not a number");
    expect(() => loadConfig(numbers, file('ACCEPTABLE_PERCENTAGE_DIFFERENCE = 0.05\n'))).toThrow('0.05 is out of range (0.1..10)');
    expect(() => loadConfig(numbers, file('ACCEPTABLE_PERCENTAGE_DIFFERENCE = \n'))).toThrow(ConfigError);
  });

  it('warns about unknown keys with their line, and keeps going', () => {
    const { warnings } = loadConfig(schema, file('WORKING_USER = mfs\nMATOCL_LISTEN_PORT = 1\n'));
    expect(warnings).toEqual([expect.stringMatching(/:1: unknown key WORKING_USER/)]);
  });

  it('a named file that does not exist is an error', () => {
    expect(() => loadConfig(schema, '/nonexistent/tsmfs.cfg')).toThrow(/cannot read configuration file \(ENOENT\)/);
  });

  it('describes every key for --help', () => {
    expect(describeConfig(schema)).toContain('MATOCL_LISTEN_PORT  client port (default: 9421)');
  });
});

import { describe, expect, it } from 'vitest';
import { textTable } from '../admin/text-table.js';
import { EXIT } from '../exit-codes.js';
import { runTsmfs } from '../tsmfs-command.js';
import { runTsmfsCli } from '../tsmfs-cli-command.js';
import { chunkName, fileinfoLines } from './chunk-tools.js';
import { parseValueArg } from './goal-tools.js';

describe('tool output', () => {
  it('names chunks as MooseFS does', () => {
    expect(chunkName(1, 1)).toBe('0000000000000001_00000001');
    expect(chunkName(0xabc, 0x10)).toBe('0000000000000ABC_00000010');
  });

  it("lists every chunk slot and each chunk's copies by address, in MooseFS's words", () => {
    const lines = fileinfoLines('/m/f', {
      length: 10,
      goal: 2,
      chunks: [
        { index: 0, chunkId: 5, version: 3, copies: [{ csid: 2, host: '10.0.0.10', port: 9422, version: 2, state: 'stale' }, { csid: 1, host: '10.0.0.9', port: 9422, version: 3, state: 'valid' }] },
        { index: 2, chunkId: 6, version: 1, copies: [{ csid: 4, host: '10.0.0.4', port: 9422, version: 1, state: 'replicating' }, { csid: 3, host: '10.0.0.3', port: 9422, version: 1, state: 'damaged' }] },
      ],
    });
    expect(lines).toEqual([
      '/m/f:',
      '\tchunk 0: 0000000000000005_00000003 / (id:5 ver:3)',
      '\t\tcopy 1: 10.0.0.9:9422 (status:VALID)',
      '\t\tcopy 2: 10.0.0.10:9422 (status:WRONG VERSION)',
      '\tchunk 1: empty',
      '\tchunk 2: 0000000000000006_00000001 / (id:6 ver:1)',
      '\t\tcopy 1: 10.0.0.3:9422 (status:INVALID)',
      '\t\tcopy 2: 10.0.0.4:9422 (status:BEING REPLICATED)',
      '\t\tno valid copies !!!',
    ]);
    expect(fileinfoLines('/m/e', { length: 0, goal: 1, chunks: [] })).toEqual(['/m/e:', '\tno chunks - empty file']);
  });

  it('parses GOAL[+|-] and SECONDS[+|-]', () => {
    expect(parseValueArg('3', 'goal')).toEqual({ value: 3, mode: 'set' });
    expect(parseValueArg('2+', 'goal')).toEqual({ value: 2, mode: 'increase' });
    expect(parseValueArg('86400-', 'trashtime')).toEqual({ value: 86400, mode: 'decrease' });
    for (const bad of ['0', '10', 'x', '-3', '3+-']) expect(() => parseValueArg(bad, 'goal')).toThrow(/bad goal/);
  });

  it('aligns tables: numbers right, text left', () => {
    expect(textTable(['id', 'name'], [[1, 'a'], [22, 'bbb']])).toBe(['id  name', '--  ----', ' 1  a', '22  bbb'].join('\n'));
  });
});

describe('exit codes', () => {
  it('usage errors are 2, help is 0', async () => {
    const err = process.stderr.write;
    const out = process.stdout.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      const io = () => ({ out: () => {}, err: () => {}, format: 'plain' as const, progress: false });
      expect(await runTsmfs(['setgoal', '42', '/x'], { io })).toBe(EXIT.usage);
      expect(await runTsmfs(['getgoal'], { io })).toBe(EXIT.usage);
      expect(await runTsmfs(['nosuchtool'])).toBe(EXIT.usage);
      expect(await runTsmfs([])).toBe(EXIT.usage);
      expect(await runTsmfs(['getgoal', '--help'])).toBe(EXIT.ok);
      expect(await runTsmfsCli(['-SXX'], { out: () => {}, err: () => {} })).toBe(EXIT.usage);
      expect(await runTsmfsCli(['--help'], { out: () => {}, err: () => {} })).toBe(EXIT.ok);
      // Nothing listens on port 1: the master is unreachable.
      expect(await runTsmfsCli(['-P', '1', '-SIN'], { out: () => {}, err: () => {} })).toBe(EXIT.master);
    } finally {
      process.stderr.write = err;
      process.stdout.write = out;
    }
  });
});

import { describe, expect, it } from 'vitest';
import { parseTopology } from './topology.js';

describe('topology (mfstopology.cfg)', () => {
  const t = parseTopology(
    [
      '# every form MooseFS documents',
      '*                        world',
      '192.168.1.0/24           dc1|rack1',
      '192.168.2.0/255.255.255.0 dc1|rack2',
      '10.0.0.5-10.0.0.9        dc2',
      '192.168.1.77             dc1|rack2   # the last line that covers an address wins',
      '::1                      dc1|rack1',
    ].join('\n'),
    'topo.cfg',
  );

  it('finds the location of an address, the last covering line winning', () => {
    expect(t.pathOf('192.168.1.10')).toEqual(['dc1', 'rack1']);
    expect(t.pathOf('192.168.1.77')).toEqual(['dc1', 'rack2']);
    expect(t.pathOf('192.168.2.200')).toEqual(['dc1', 'rack2']);
    expect(t.pathOf('10.0.0.9')).toEqual(['dc2']);
    expect(t.pathOf('10.0.0.10')).toEqual(['world']);
    expect(t.pathOf('::ffff:192.168.1.10')).toEqual(['dc1', 'rack1']);
    expect(t.rackOf('::1')).toBe('dc1|rack1');
    expect(parseTopology('', 'empty').rackOf('1.2.3.4')).toBe('');
  });

  it("measures MooseFS's distances", () => {
    expect(t.distance('192.168.1.10', '192.168.1.10')).toBe(0);
    expect(t.distance('192.168.1.10', '192.168.1.11')).toBe(1); // same rack
    expect(t.distance('192.168.1.10', '192.168.2.1')).toBe(2); // dc1|rack1 vs dc1|rack2
    expect(t.distance('192.168.1.10', '10.0.0.6')).toBe(3); // nothing in common, 2 elements left
    expect(t.distance('10.0.0.6', '10.0.0.200')).toBe(2); // dc2 vs world
  });

  it('refuses what it cannot read, naming file and line', () => {
    for (const bad of ['1.2.3.4', '1.2.3.4/33 a', '1.2.3.300 a', '1.2.3.9-1.2.3.1 a', 'x a', '1.2.3.4 a||b', '1.2.3.4 a b']) {
      expect(() => parseTopology(`# c\n${bad}`, 'topo.cfg')).toThrow(/^topo\.cfg:2: /);
    }
  });
});

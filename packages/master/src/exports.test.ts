import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { isTsmfsError } from '@tsmfs/protocol';
import { describe, expect, it } from 'vitest';
import { type ExportRule, type UserDb, ExportsError, loadExports, matchExport, parseAddressRange, parseDuration, parseExports, parseIPv4, passwordDigest } from './exports.js';

const users: UserDb = {
  user: (name) => (name === 'nobody' ? { uid: 65534, gid: 65534 } : name === 'alice' ? { uid: 1000, gid: 100 } : undefined),
  uidGid: (uid) => (uid === 0 ? 0 : undefined),
  group: (name) => (name === 'staff' ? 50 : undefined),
};
const parse = (text: string): ExportRule[] => parseExports(text, 'exports.cfg', users).rules;
const nonce = new Uint8Array(32).fill(7);
const ask = (rules: ExportRule[], address: string, path = '/', extra: { meta?: boolean; password?: string } = {}) =>
  matchExport(rules, {
    address,
    path,
    meta: extra.meta ?? false,
    nonce,
    passwordDigest: extra.password === undefined ? undefined : passwordDigest(nonce, extra.password),
  });

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const dotted = (q: number[]): string => q.join('.');
const num = (q: number[]): number => ((q[0]! << 24) | (q[1]! << 16) | (q[2]! << 8) | q[3]!) >>> 0;

describe('export addresses', () => {
  it('A.B.C.D/BITS matches exactly the addresses sharing the first BITS bits', () => {
    fc.assert(
      fc.property(ipv4, fc.nat(32), ipv4, (net, bits, addr) => {
        const range = parseAddressRange(`${dotted(net)}/${bits}`)!;
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        const expected = ((num(net) & mask) >>> 0) === ((num(addr) & mask) >>> 0);
        const ip = parseIPv4(dotted(addr))!;
        expect(ip >= range.from && ip <= range.to).toBe(expected);
      }),
    );
  });

  it('a /BITS network and its dotted mask are the same range', () => {
    fc.assert(
      fc.property(ipv4, fc.nat(32), (net, bits) => {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        const maskText = [24, 16, 8, 0].map((s) => (mask >>> s) & 255).join('.');
        expect(parseAddressRange(`${dotted(net)}/${maskText}`)).toEqual(parseAddressRange(`${dotted(net)}/${bits}`));
      }),
    );
  });

  it('a range F-T admits exactly F ≤ address ≤ T, through the rule matcher', () => {
    fc.assert(
      fc.property(ipv4, ipv4, ipv4, (a, b, addr) => {
        const [lo, hi] = num(a) <= num(b) ? [a, b] : [b, a];
        const rules = parse(`${dotted(lo)}-${dotted(hi)} / rw`);
        const inside = num(addr) >= num(lo) && num(addr) <= num(hi);
        const admitted = (() => {
          try {
            ask(rules, dotted(addr));
            return true;
          } catch (err) {
            expect(isTsmfsError(err, 'EACCES')).toBe(true);
            return false;
          }
        })();
        expect(admitted).toBe(inside);
      }),
    );
  });

  it('* admits anything, IPv6 included; a single address admits itself and its IPv4-mapped form', () => {
    const rules = parse('* / rw');
    expect(ask(rules, '::1').readonly).toBe(false);
    const single = parse('10.1.2.3 / rw');
    expect(ask(single, '::ffff:10.1.2.3').where).toBe('exports.cfg:1');
    expect(() => ask(single, '10.1.2.4')).toThrow('no export rule for 10.1.2.4 matches path /');
    expect(() => ask(single, '::1')).toThrow(/no export rule/);
  });

  it('refuses malformed addresses', () => {
    for (const bad of ['10.0.0', '10.0.0.256', '10.0.0.1/33', '10.0.0.9-10.0.0.1', 'host.example', '1.2.3.4/255.0.0.0.0']) {
      expect(parseAddressRange(bad), bad).toBeUndefined();
    }
  });
});

describe('exports syntax', () => {
  it('reads MooseFS options with MooseFS defaults', () => {
    const [ro, rw] = parse(`
      # comment
      192.168.1.0/24   /data   alldirs,maproot=nobody,password=s3cret   # trailing comment
      10.0.0.0-10.0.0.5  /   rw,mapall=alice:staff,mingoal=2,maxgoal=3,mintrashtime=2h30m,maxtrashtime=2w
    `);
    expect(ro).toMatchObject({
      where: 'exports.cfg:3', path: '/data', readonly: true, alldirs: true, maproot: { uid: 65534, gid: 65534 }, password: 's3cret',
      minGoal: 1, maxGoal: 9, minTrashtime: 0, maxTrashtime: 0xffffffff,
    });
    expect(rw).toMatchObject({ readonly: false, mapall: { uid: 1000, gid: 50 }, maproot: { uid: 999, gid: 999 }, minGoal: 2, maxGoal: 3, minTrashtime: 9000, maxTrashtime: 1_209_600 });
  });

  it('parses MooseFS time durations', () => {
    expect(parseDuration('86400')).toBe(86400);
    expect(parseDuration('2H')).toBe(7200);
    expect(parseDuration('4h30M')).toBe(16200);
    expect(parseDuration('11d13h46m40s')).toBe(1_000_000);
    expect(parseDuration('48H')).toBe(172_800);
    for (const bad of ['30m12h', '30m12', '50000d', '', 'h']) expect(() => parseDuration(bad), bad).toThrow(ExportsError);
  });

  it('names file and line of every mistake', () => {
    const cases: [string, RegExp][] = [
      ['* /x rw,bogus', /exports\.cfg:2: unknown option 'bogus'/],
      ['10.0.0.300 / rw', /exports\.cfg:2: '10\.0\.0\.300' is not an address/],
      ['* data rw', /exports\.cfg:2: directory 'data' must start with '\/'/],
      ['* / maproot=nosuchuser', /exports\.cfg:2: maproot: no user named 'nosuchuser'/],
      ['* / mingoal=0', /exports\.cfg:2: mingoal: '0' is not a goal/],
      ['* / mingoal=5,maxgoal=2', /exports\.cfg:2: mingoal 5 is above maxgoal 2/],
      ['* / md5pass=abc', /exports\.cfg:2: md5pass: md5pass is not supported/],
      ['* / rw extra', /exports\.cfg:2: expected 'ADDRESS DIRECTORY \[OPTIONS\]'/],
      ['* /a/../b rw', /exports\.cfg:2: directory '\/a\/\.\.\/b' may not contain/],
    ];
    for (const [line, message] of cases) expect(() => parse(`# first\n${line}`), line).toThrow(message);
  });

  it('warns about MooseFS options tsmfs ignores', () => {
    const { warnings } = parseExports('* / rw,ignoregid,umask=0022', 'e.cfg', users);
    expect(warnings).toEqual(['e.cfg:1: ignoregid: option not supported by tsmfs (ignored)', 'e.cfg:1: umask: option not supported by tsmfs (ignored)']);
  });

  it('falls back to MooseFS\'s default exports when the file does not exist', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsmfs-exports-'));
    const loaded = loadExports(join(dir, 'missing.cfg'), users);
    expect(loaded.usedDefault).toBe(true);
    expect(loaded.rules).toMatchObject([
      { path: '/', readonly: false, alldirs: true, admin: true, maproot: { uid: 0, gid: 0 }, meta: false },
      { meta: true, readonly: false },
    ]);
    writeFileSync(join(dir, 'e.cfg'), '127.0.0.1 / ro\n');
    expect(loadExports(join(dir, 'e.cfg'), users)).toMatchObject({ usedDefault: false, rules: [{ readonly: true }] });
  });
});

describe('export matching', () => {
  it('needs alldirs for a subdirectory of the exported one', () => {
    const rules = parse('* /home rw');
    expect(ask(rules, '1.2.3.4', '/home/').path).toBe('/home');
    expect(() => ask(rules, '1.2.3.4', '/home/alice')).toThrow('no export rule for 1.2.3.4 matches path /home/alice');
    expect(() => ask(rules, '1.2.3.4', '/homeless')).toThrow(/no export rule/);
    const all = parse('* /home rw,alldirs');
    expect(ask(all, '1.2.3.4', '/home/alice').path).toBe('/home');
    expect(() => ask(all, '1.2.3.4', '/homeless')).toThrow(/no export rule/);
  });

  it('prefers rw, then unmapped root, then longer paths, like MooseFS', () => {
    const rules = parse('* / ro,alldirs\n* / rw,alldirs,maproot=999\n* /a rw,alldirs,maproot=0:0\n* /a/b rw,alldirs,maproot=0:0');
    expect(ask(rules, '1.1.1.1', '/x').where).toBe('exports.cfg:2');
    expect(ask(rules, '1.1.1.1', '/a/x').where).toBe('exports.cfg:3');
    expect(ask(rules, '1.1.1.1', '/a/b/c').where).toBe('exports.cfg:4');
  });

  it('checks passwords by digest and says why a client is refused', () => {
    const rules = parse('* / rw,password=s3cret');
    expect(ask(rules, '1.1.1.1', '/', { password: 's3cret' }).password).toBe('s3cret');
    expect(() => ask(rules, '1.1.1.1', '/')).toThrow('a password is required for path / (export rule exports.cfg:1)');
    expect(() => ask(rules, '1.1.1.1', '/', { password: 'guess' })).toThrow('wrong password for path / (export rule exports.cfg:1)');
  });

  it('refuses a wrong password even where a rule without one would admit (unlike MooseFS)', () => {
    const rules = parse('* / rw,alldirs\n* /locked rw,password=s3cret');
    expect(ask(rules, '1.1.1.1', '/locked').where).toBe('exports.cfg:1');
    expect(ask(rules, '1.1.1.1', '/locked', { password: 's3cret' }).where).toBe('exports.cfg:2');
    expect(() => ask(rules, '1.1.1.1', '/locked', { password: 'typo' })).toThrow('wrong password for path /locked (export rule exports.cfg:2)');
  });

  it('keeps the meta file system apart', () => {
    const rules = parse('* / rw,alldirs');
    expect(() => ask(rules, '1.1.1.1', '', { meta: true })).toThrow('no export rule for 1.1.1.1 matches the meta file system');
    expect(ask(parse('* . rw'), '1.1.1.1', '', { meta: true }).meta).toBe(true);
  });
});

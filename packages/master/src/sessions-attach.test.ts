import { isTsmfsError } from '@tsmfs/protocol';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseExports, passwordDigest } from './exports.js';
import { createEmptyMetadata } from './metadata/metadata.js';
import { Namespace } from './metadata/namespace.js';
import { Sessions } from './sessions.js';

const root = { uid: 0, gid: 0, groups: [0] };
const nonce = new Uint8Array(32).fill(1);

function setup(exportsText: string) {
  let t = 1_700_000_000;
  const clock = () => ({ sec: t++, nsec: 0 });
  const ns = new Namespace(createEmptyMetadata(clock()), () => undefined, clock);
  ns.mkdir({ cred: root, parent: 1, name: 'proj', mode: 0o755, umask: 0 });
  const rules = parseExports(exportsText, 'exports.cfg').rules;
  const sessions = new Sessions({ rules: () => rules, namespace: () => ns, sustainMs: 60_000, log: pino({ level: 'silent' }) });
  onTestFinished(() => sessions.clear());
  const base = { subdir: '/proj', meta: false, readonly: false, hostname: 'h', mountpoint: '/mnt' };
  return { ns, sessions, base };
}

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (isTsmfsError(err)) return err.code;
    throw err;
  }
  return 'no error';
};

describe('a CLI tool attaching to a mount session', () => {
  it('gets the mount\'s rule, root and read-only flag without the password', () => {
    const { sessions, base } = setup('127.0.0.1 /proj ro,password=secret,maproot=0');
    const mountLink = {};
    const mount = sessions.register({ ...base, passwordDigest: passwordDigest(nonce, 'secret') }, { address: '127.0.0.1', nonce, link: mountLink });
    const toolLink = {};
    const tool = sessions.register({ ...base, subdir: '/', attach: mount.id }, { address: '127.0.0.1', nonce, link: toolLink, role: 'cli' });
    expect(tool.id).not.toBe(mount.id);
    expect(tool).toMatchObject({ root: mount.root, readonly: true, attachedTo: mount.id, rule: mount.rule });
    // The tool's session goes when its link closes; the mount's is untouched.
    sessions.detach(tool, toolLink);
    expect(sessions.all.map((s) => s.id)).toEqual([mount.id]);
    expect(mount.link).toBe(mountLink);
  });

  it('is refused for a non-tool, another address, a dead or unknown session, or a tool session', () => {
    const { sessions, base } = setup('* / rw,alldirs');
    const mountLink = {};
    const mount = sessions.register(base, { address: '127.0.0.1', nonce, link: mountLink });
    const attach = { ...base, attach: mount.id };
    expect(code(() => sessions.register(attach, { address: '127.0.0.1', nonce, link: {}, role: 'client' }))).toBe('EPERM');
    expect(code(() => sessions.register(attach, { address: '10.0.0.9', nonce, link: {}, role: 'cli' }))).toBe('EACCES');
    expect(code(() => sessions.register({ ...base, attach: 12345 }, { address: '127.0.0.1', nonce, link: {}, role: 'cli' }))).toBe('EACCES');
    const tool = sessions.register(attach, { address: '127.0.0.1', nonce, link: {}, role: 'cli' });
    expect(code(() => sessions.register({ ...base, attach: tool.id }, { address: '127.0.0.1', nonce, link: {}, role: 'cli' }))).toBe('EACCES');
    // A tool session cannot be resumed as if it were a mount's.
    const resumed = sessions.register({ ...base, sessionId: tool.id }, { address: '127.0.0.1', nonce, link: {} });
    expect(resumed.id).not.toBe(tool.id);
    sessions.detach(mount, mountLink);
    expect(code(() => sessions.register(attach, { address: '127.0.0.1', nonce, link: {}, role: 'cli' }))).toBe('EACCES');
    sessions.clear();
  });
});

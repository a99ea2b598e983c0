import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fail } from '@tsmfs/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMounted, mountForTest, sh, type TestMount } from './fuse-test-mount.test-helpers.js';
import { FuseSession, type CreateArgs, type EntryResult, type LookupArgs, type MkdirArgs, type RequestContext } from './index.js';
import { MemFs, MemFsPlus } from './memfs.test-helpers.js';

const OPTIONS = [
  'fsname=tsmfs',
  'subtype=tsmfs',
  'allow_other',
  'default_permissions',
  'big_writes',
  'max_write=131072',
  'max_read=131072',
  'max_readahead=131072',
];

/** Root, for calling the file system's handlers directly (as another client would). */
const ROOT: RequestContext = {
  uid: 0,
  gid: 0,
  pid: 0,
  umask: 0,
  groups: () => [],
  signal: new AbortController().signal,
  interrupted: false,
};

/** The in-memory file system, plus a name whose lookup fails with a plain bug. */
class TestFs extends MemFsPlus {
  readonly creators: { uid: number; gid: number; groups: number[] }[] = [];
  readonly mkdirs: { mode: number; umask: number }[] = [];
  override lookup(ctx: RequestContext, { parent, name }: LookupArgs): EntryResult | Promise<EntryResult> {
    if (name === 'boom') throw new Error('a bug in a handler');
    return super.lookup(ctx, { parent, name });
  }
  override create(ctx: RequestContext, { parent, name, mode, flags }: CreateArgs) {
    this.creators.push({ uid: ctx.uid, gid: ctx.gid, groups: ctx.groups() });
    return super.create(ctx, { parent, name, mode, flags });
  }
  override mkdir(ctx: RequestContext, { parent, name, mode }: MkdirArgs) {
    this.mkdirs.push({ mode, umask: ctx.umask });
    return super.mkdir(ctx, { parent, name, mode });
  }
}

describe('a mounted in-memory file system, used from child processes', () => {
  const fs = new TestFs();
  let m: TestMount;
  const at = (path: string) => `'${m.dir}/${path}'`;

  beforeAll(async () => {
    m = await mountForTest(fs, OPTIONS);
  });
  afterAll(async () => {
    await m?.teardown();
  });

  it('is mounted with our fsname and subtype, and reports what INIT negotiated', async () => {
    const { stdout } = await sh(`grep ' ${m.dir} ' /proc/mounts && stat -c %i ${m.dir}`);
    expect(stdout).toContain('tsmfs');
    expect(stdout).toContain('fuse.tsmfs');
    expect(m.session.connection).toMatchObject({ protoMajor: 7, maxWrite: 131072, maxReadahead: 131072 });
    const READDIRPLUS = 1 << 13;
    const READDIRPLUS_AUTO = 1 << 14;
    expect(m.session.connection!.want & (READDIRPLUS | READDIRPLUS_AUTO)).toBe(READDIRPLUS);
    // libfuse 3's defaults that change what handlers receive stay off unless asked for.
    const ATOMIC_O_TRUNC = 1 << 3;
    const AUTO_INVAL_DATA = 1 << 12;
    const HANDLE_KILLPRIV = 1 << 20;
    expect(m.session.connection!.want & (ATOMIC_O_TRUNC | AUTO_INVAL_DATA | HANDLE_KILLPRIV)).toBe(0);
  });

  it('writes with echo, reads with cat, and shows our inode numbers as st_ino', async () => {
    const r = await sh(`echo hello > ${at('hello')} && cat ${at('hello')} && ls -li ${at('hello')}`);
    expect(r.stderr).toBe('');
    const [content, listing] = r.stdout.split('\n');
    expect(content).toBe('hello');
    const ino = fs.nodes.get(1)!.entries!.get('hello')!;
    expect(ino).toBeGreaterThanOrEqual(1000);
    expect(Number(listing.trim().split(/\s+/)[0])).toBe(ino);
    expect((await sh(`stat -c %i ${m.dir}`)).stdout.trim()).toBe('1');
  });

  it('receives dd bs=1M as writes of at least 128 KiB (big_writes, max_write)', async () => {
    fs.writeSizes.length = 0;
    const r = await sh(`dd if=/dev/zero of=${at('big')} bs=1M count=8 2>&1 && cmp -n 8388608 ${at('big')} /dev/zero`);
    expect(r.code, r.stdout).toBe(0);
    expect(fs.writeSizes.reduce((a, b) => a + b, 0)).toBe(8 << 20);
    expect(Math.max(...fs.writeSizes)).toBe(128 << 10);
    expect(fs.writeSizes.filter((n) => n >= 128 << 10).length).toBe(64);
    expect((await sh(`stat -c %s ${at('big')}`)).stdout.trim()).toBe(String(8 << 20));
  });

  it('passes touch -m -d with nanoseconds through setattr, and stat shows them', async () => {
    await sh(`: > ${at('times')}`);
    const before = fs.setattrs.length;
    const r = await sh(`touch -m -d '2001-02-03 04:05:06.123456789' ${at('times')} && stat -c %y ${at('times')}`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('2001-02-03 04:05:06.123456789 +0000');
    const changes = fs.setattrs.slice(before).find((c) => c.mtime);
    expect(changes?.mtime).toEqual({ sec: Date.UTC(2001, 1, 3, 4, 5, 6) / 1000, nsec: 123456789 });
    expect(changes?.atime).toBeUndefined();
  });

  it('respects UTIME_OMIT: touch -a alone leaves mtime as it was', async () => {
    await sh(`touch -m -d '2001-02-03 04:05:06.5' ${at('times2')}`);
    const before = fs.setattrs.length;
    const r = await sh(`touch -a ${at('times2')} && stat -c '%y|%x' ${at('times2')}`);
    const [mtime, atime] = r.stdout.trim().split('|');
    expect(mtime).toBe('2001-02-03 04:05:06.500000000 +0000');
    expect(atime.startsWith('2001')).toBe(false);
    const changes = fs.setattrs.slice(before);
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.every((c) => c.mtime === undefined)).toBe(true);
    expect(changes.some((c) => c.atime === 'now')).toBe(true);
  });

  it('carries times past 2038 and before 1970', async () => {
    const r = await sh(
      `touch -d '2200-01-02 03:04:05.25' ${at('far')} && stat -c %y ${at('far')} && ` +
        `touch -d '1960-06-07 08:09:10' ${at('far')} && stat -c %y ${at('far')}`,
    );
    expect(r.stdout).toBe('2200-01-02 03:04:05.250000000 +0000\n1960-06-07 08:09:10.000000000 +0000\n');
    await sh(`rm ${at('far')}`);
  });

  it('does mkdir, mv, ln, ln -s, rm and rmdir', async () => {
    const r = await sh(
      [
        `mkdir ${at('d')}`,
        `echo data > ${at('d/f')}`,
        `mv ${at('d/f')} ${at('d/g')}`,
        `ln ${at('d/g')} ${at('d/hard')}`,
        `ln -s g ${at('d/soft')}`,
        `readlink ${at('d/soft')}`,
        `cat ${at('d/soft')}`,
        `stat -c %h ${at('d/g')}`,
        `ls ${at('d')}`,
        `rm ${at('d/g')} ${at('d/soft')}`,
        `cat ${at('d/hard')}`,
        `rm ${at('d/hard')}`,
        `rmdir ${at('d')}`,
        `ls -a ${m.dir}`,
      ].join(' && '),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')).toEqual([
      'g',
      'data',
      '2',
      'g',
      'hard',
      'soft',
      'data',
      '.',
      '..',
      'big',
      'hello',
      'times',
      'times2',
      '',
    ]);
  });

  it('passes rename2 flags: RENAME_NOREPLACE is EEXIST, a flag the handler lacks is EINVAL', async () => {
    // renameat2(AT_FDCWD, from, AT_FDCWD, to, flags) through glibc, as mv would call it.
    const rename2 = (from: string, to: string, flags: number) =>
      sh(
        `python3 -c 'import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); ` +
          `r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3])); ` +
          `print(os.strerror(ctypes.get_errno()) if r else "ok")' ${at(from)} ${at(to)} ${flags}`,
      );
    await sh(`echo a > ${at('r2a')} && echo b > ${at('r2b')}`);
    expect((await rename2('r2a', 'r2b', 1)).stdout).toBe('File exists\n');
    expect((await rename2('r2a', 'r2c', 1)).stdout).toBe('ok\n');
    expect((await rename2('r2c', 'r2b', 2)).stdout).toBe('Invalid argument\n');
    expect((await sh(`cat ${at('r2b')} ${at('r2c')} && rm ${at('r2b')} ${at('r2c')}`)).stdout).toBe('b\na\n');
  });

  it('lists a directory larger than one readdir buffer', async () => {
    const r = await sh(
      `mkdir ${at('many')} && cd ${at('many')} && touch $(seq -f 'file-with-a-longish-name-%04g' 600) && ` +
        `ls | wc -l && ls | tail -1 && ls -f | sort | uniq -d | wc -l`,
    );
    expect(r.stdout).toBe('600\nfile-with-a-longish-name-0600\n0\n');
    await sh(`rm -r ${at('many')}`);
  });

  it('keeps the times and modes that tar -x and cp -a set', async () => {
    const src = mkdtempSync(join(tmpdir(), 'tsmfs-fuse-src-'));
    try {
      const listing = (dir: string) =>
        sh(`cd '${dir}' && find . -mindepth 1 -printf '%P %y %m %TY-%Tm-%Td %TT\\n' | sort`);
      await sh(
        `cd '${src}' && mkdir -p a/b && echo x > a/b/f && echo y > g && chmod 640 g && ln -s g link && ` +
          `touch -h -d '1999-12-31 23:59:58.25' link && touch -d '2003-04-05 06:07:08.987654321' a/b/f g && ` +
          `touch -d '2010-01-01 00:00:00' a/b a`,
      );
      const expected = (await listing(src)).stdout;
      expect(expected).toContain('g f 640 2003-04-05 06:07:08.9876543210');
      await sh(`mkdir ${at('untar')} && tar --format=posix -C '${src}' -cf - . | tar -C ${at('untar')} -xf -`);
      expect((await listing(`${m.dir}/untar`)).stdout).toBe(expected);
      await sh(`cp -a '${src}' ${at('copied')}`);
      expect((await listing(`${m.dir}/copied`)).stdout).toBe(expected);
    } finally {
      rmSync(src, { recursive: true, force: true });
      await sh(`rm -rf ${at('untar')} ${at('copied')}`);
    }
  });

  it('reports umask-applied modes to mkdir, with the umask in the context', async () => {
    await sh(`umask 027 && mkdir ${at('masked')}`);
    expect(fs.mkdirs.at(-1)).toEqual({ mode: 0o750, umask: 0o027 });
    expect((await sh(`stat -c %a ${at('masked')}`)).stdout.trim()).toBe('750');
  });

  it('gives each request its caller: uid, gid and supplementary groups', async () => {
    await sh(`mkdir ${at('open')} && chmod 777 ${at('open')}`);
    const r = await sh(`setpriv --reuid=1234 --regid=5678 --groups=100,200 touch ${at('open/mine')}`);
    expect(r.stderr).toBe('');
    expect(fs.creators.at(-1)).toEqual({ uid: 1234, gid: 5678, groups: [100, 200] });
    expect((await sh(`stat -c %u:%g ${at('open/mine')}`)).stdout.trim()).toBe('1234:5678');
  });

  it('sets, gets, lists and removes extended attributes', async () => {
    const r = await sh(
      [
        `cd ${m.dir}`,
        `: > x`,
        `setfattr -n user.colour -v blue x`,
        `setfattr -n user.size -v large x`,
        `getfattr --only-values -n user.colour x`,
        `echo`,
        `getfattr -d x`,
        `setfattr -x user.colour x`,
        `getfattr -d x`,
      ].join(' && '),
    );
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('blue\n');
    expect(r.stdout).toContain('user.colour="blue"');
    expect(r.stdout).toContain('user.size="large"');
    expect(r.stdout.split('# file:')[2]).not.toContain('user.colour');
    const missing = await sh(`cd ${m.dir} && getfattr -n user.none x`);
    expect(missing.stderr).toContain('No such attribute');
  });

  // The binding answers "no such attribute" itself for inodes the file system said have
  // none: here it is told so of files that do have one, so every answer the handlers gave
  // shows the value and every answer the binding gave shows none.
  it('answers getxattr and listxattr of the inodes it is told have no xattrs itself, until told otherwise or the time is up', async () => {
    const files = Array.from({ length: 200 }, (_, i) => `nx${i}`);
    await sh(`cd ${m.dir} && for f in ${files.join(' ')}; do : > $f && setfattr -n user.k -v v $f; done`);
    const inos = (await sh(`cd ${m.dir} && stat -c %i ${files.join(' ')}`)).stdout.trim().split('\n').map(Number);
    /** Per file: whether the binding answered (no value seen). */
    const answeredHere = async (): Promise<boolean[]> => {
      const out = (await sh(`cd ${m.dir} && for f in ${files.join(' ')}; do getfattr --only-values -n user.k $f 2>/dev/null || printf -; echo; done`)).stdout;
      return out.split('\n').slice(0, files.length).map((line) => line === '-');
    };
    const before = m.session.noXattrsAnswered();
    // The real inodes go in after 130,000 made-up ones (the table then is nearly half
    // full, its most), so that many land past their home slot behind made-up ones, whose
    // removal below must shift them back.
    const fake = (i: number) => 1_000_000 + i * 7;
    for (let i = 0; i < 130_000; i++) expect(m.session.answerNoXattrs(fake(i), 60_000)).toBe(true);
    const held = new Set<number>();
    for (const ino of inos) if (m.session.answerNoXattrs(ino, 60_000)) held.add(ino);
    expect(held.size).toBe(files.length);
    expect(await answeredHere()).toEqual(files.map(() => true));
    const listed = await sh(`cd ${m.dir} && getfattr -d ${files[0]}`);
    expect(listed.stdout).not.toContain('user.k');
    for (let i = 0; i < 130_000; i++) m.session.forgetNoXattrs(fake(i));
    inos.forEach((ino, i) => {
      if (i % 3 === 0) {
        m.session.forgetNoXattrs(ino);
        held.delete(ino);
      }
    });
    expect(await answeredHere()).toEqual(inos.map((ino) => held.has(ino)));
    const counted = m.session.noXattrsAnswered();
    expect(counted.getxattr - before.getxattr).toBe(files.length + held.size);
    expect(counted.listxattr - before.listxattr).toBeGreaterThanOrEqual(1);
    // A deadline ends an answer on its own; forgetting all ends every one.
    m.session.answerNoXattrs(inos[0]!, 300);
    expect((await answeredHere())[0]).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect((await answeredHere())[0]).toBe(false);
    m.session.forgetNoXattrs();
    expect(await answeredHere()).toEqual(files.map(() => false));
    await sh(`cd ${m.dir} && rm ${files.join(' ')}`);
  });

  it('answers statfs (df)', async () => {
    const r = await sh(`df -B 65536 --output=source,size,used,avail ${m.dir}`);
    expect(r.stdout.split('\n')[1].trim().split(/\s+/)).toEqual(['tsmfs', '1000000', '250000', '700000']);
  });

  it('turns thrown errnos into the shell messages, and a bug into EIO plus an error event', async () => {
    await sh(`mkdir -p ${at('full/sub')}`);
    expect((await sh(`cat ${at('missing')}`)).stderr).toContain('No such file or directory');
    expect((await sh(`mkdir ${at('full')}`)).stderr).toContain('File exists');
    expect((await sh(`rmdir ${at('full')}`)).stderr).toContain('Directory not empty');
    expect((await sh(`stat ${at('boom')}`)).stderr).toContain('Input/output error');
    expect(m.errors.map((e) => [e.message, (e as Error & { op: string }).op])).toEqual([
      ['a bug in a handler', 'lookup'],
    ]);
    // A name that is not UTF-8 is refused rather than decoded into a different name.
    expect((await sh(`touch "${m.dir}/$(printf 'bad\\377name')"`)).stderr).toContain('Invalid or incomplete multibyte');
    // No fallocate handler: ENOSYS, which the kernel reports as EOPNOTSUPP.
    expect((await sh(`fallocate -l 4096 ${at('hello')}`)).stderr).toContain('Operation not supported');
  });
});

/** Every handler waits a random 0–3 ms, so replies come back out of order. */
class SlowFs extends MemFs {
  inFlight = 0;
  maxInFlight = 0;
  constructor() {
    super(0);
    for (const name of ['lookup', 'getattr', 'create', 'write', 'read', 'unlink', 'mkdir', 'readdir'] as const) {
      const inner = (this[name] as (...args: unknown[]) => unknown).bind(this);
      (this as Record<string, unknown>)[name] = async (...args: unknown[]) => {
        this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
        try {
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
          return inner(...args);
        } finally {
          this.inFlight--;
        }
      };
    }
  }
}

describe('READDIRPLUS', () => {
  /** `ls -l` of 300 files the kernel has never seen; returns the LOOKUPs it caused. */
  async function lookupsOfLsL(fs: MemFs): Promise<number> {
    const dir = fs.mkdir(ROOT, { parent: 1, name: 'd', mode: 0o755 }).attr.ino;
    for (let i = 0; i < 300; i++) fs.create(ROOT, { parent: dir, name: `f${i}`, mode: 0o100644, flags: 0 });
    const m = await mountForTest(fs, OPTIONS);
    try {
      const r = await sh(`ls -l ${m.dir}/d | grep -c f`);
      expect(r.stdout).toBe('300\n');
      return fs.calls.get('lookup') ?? 0;
    } finally {
      await m.teardown();
    }
  }

  it('answers ls -l with one request per buffer instead of a LOOKUP per name', async () => {
    // Entry timeouts of 60 s: what readdirplus hands the kernel stays valid for the stats.
    expect(await lookupsOfLsL(new MemFs(60))).toBeGreaterThanOrEqual(300);
    expect(await lookupsOfLsL(new MemFsPlus(60))).toBeLessThanOrEqual(1);
  });
});

describe('many requests in flight', () => {
  it('serves 8 processes at once with replies out of order', async () => {
    const fs = new SlowFs();
    const m = await mountForTest(fs, OPTIONS);
    try {
      const workers = Array.from({ length: 8 }, (_, w) =>
        sh(
          `mkdir ${m.dir}/w${w} && cd ${m.dir}/w${w} && ` +
            `for i in $(seq 50); do echo "$i-${w}" > f$i; done && cat f* | wc -l && rm f10 f20 && ls | wc -l`,
        ),
      );
      const results = await Promise.all(workers);
      for (const r of results) expect(r.stdout + r.stderr).toBe('50\n48\n');
      expect(fs.maxInFlight).toBeGreaterThanOrEqual(4);
      expect((await sh(`cat ${m.dir}/w3/f7`)).stdout).toBe('7-3\n');
    } finally {
      await m.teardown();
    }
  });
});

describe('locks and interrupts', () => {
  const fs = new MemFs();
  let m: TestMount;
  beforeAll(async () => {
    m = await mountForTest(fs, OPTIONS);
  });
  afterAll(async () => {
    await m?.teardown();
  });

  const PY_HOLD = [
    'import fcntl, os, sys, time',
    "f = open(sys.argv[1], 'a')",
    'fcntl.lockf(f, fcntl.LOCK_EX)',
    "print(os.getpid(), flush=True)",
    'time.sleep(float(sys.argv[2]))',
  ].join('\n');
  const PY_PROBE = [
    'import fcntl, struct, sys',
    "f = open(sys.argv[1], 'a')",
    "got = fcntl.fcntl(f, fcntl.F_GETLK, struct.pack('@hhqqi', fcntl.F_WRLCK, 0, 0, 0, 0))",
    "kind, _, start, length, pid = struct.unpack('@hhqqi', got)",
    'try:',
    '    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)',
    "    print('free')",
    'except OSError as e:',
    "    print('held', e.errno, pid, kind == fcntl.F_WRLCK)",
  ].join('\n');
  const PY_WAIT = [
    'import fcntl, os, sys',
    "f = open(sys.argv[1], 'a')",
    "open(sys.argv[2], 'w').write(str(os.getpid()))",
    'fcntl.lockf(f, fcntl.LOCK_EX)',
    "print('granted')",
  ].join('\n');

  it('serves POSIX locks across processes, and an interrupt ends a blocked F_SETLKW', async () => {
    const file = `${m.dir}/locked`;
    const holderPidFile = `${m.dir}-holder.pid`;
    const waiterPidFile = `${m.dir}-waiter.pid`;
    // Bounded polls rather than fixed sleeps: python's start-up takes seconds on a loaded machine.
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 600 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(done()).toBe(true);
    };
    const pidIn = (path: string) => Number(existsSync(path) ? readFileSync(path, 'utf8').trim() : 0);
    try {
      await sh(`: > ${file}`);
      const holder = sh(`python3 -c "$PY" ${file} 60 > ${holderPidFile}`, { PY: PY_HOLD });
      await until(() => pidIn(holderPidFile) > 0);
      const probe = await sh(`python3 -c "$PY" ${file}`, { PY: PY_PROBE });
      expect(probe.stdout.trim()).toBe(`held 11 ${pidIn(holderPidFile)} True`);
      const setlks = fs.calls.get('setlk') ?? 0;
      // Not started with & (a background job of sh ignores SIGINT): python writes its pid.
      const waiter = sh(`python3 -c "$PY" ${file} ${waiterPidFile}; echo "rc=$?"`, { PY: PY_WAIT });
      await until(() => (fs.calls.get('setlk') ?? 0) > setlks && pidIn(waiterPidFile) > 0);
      const started = Date.now();
      process.kill(pidIn(waiterPidFile), 'SIGINT');
      expect((await waiter).stdout).toBe('rc=130\n'); // KeyboardInterrupt: SIGINT ended the wait
      expect(Date.now() - started).toBeLessThan(1500);
      expect(fs.interrupts).toBe(1);
      expect(fs.calls.get('getlk')).toBeGreaterThan(0);
      process.kill(pidIn(holderPidFile), 'SIGTERM');
      await holder;
      expect((await sh(`python3 -c "$PY" ${file}`, { PY: PY_PROBE })).stdout).toBe('free\n');
    } finally {
      rmSync(holderPidFile, { force: true });
      rmSync(waiterPidFile, { force: true });
    }
  });

  it('serves flock(2) across processes', async () => {
    const file = `${m.dir}/flocked`;
    await sh(`: > ${file}`);
    const holder = sh(`flock ${file} -c 'echo held; sleep 1.5'`);
    await sh(`for i in $(seq 100); do flock -n ${file} -c true || break; sleep 0.05; done`);
    expect((await sh(`flock -n ${file} -c 'echo got'`)).code).toBe(1);
    expect((await sh(`flock -s -n ${file} -c 'echo got'`)).code).toBe(1);
    expect((await holder).stdout).toBe('held\n');
    expect((await sh(`flock -n ${file} -c 'echo got'`)).stdout).toBe('got\n');
    expect(fs.calls.get('flock')).toBeGreaterThanOrEqual(4);
  });

  it('leaves locks to the kernel when the file system has no lock handlers', async () => {
    const plain = new MemFs();
    const hidden = new Set<string | symbol>(['getlk', 'setlk', 'flock']);
    const ops = new Proxy(plain, { get: (target, key, receiver) => (hidden.has(key) ? undefined : Reflect.get(target, key, receiver)) });
    const local = await mountForTest(ops, OPTIONS);
    try {
      const file = `${local.dir}/f`;
      const holder = sh(`: > ${file} && flock ${file} -c 'sleep 1'`);
      await sh(`for i in $(seq 100); do flock -n ${file} -c true || break; sleep 0.05; done`);
      expect((await sh(`flock -n ${file} -c true`)).code).toBe(1);
      expect((await sh(`python3 -c "$PY" ${file}`, { PY: PY_PROBE })).stdout).toBe('free\n');
      await holder;
      expect(plain.calls.get('flock')).toBeUndefined();
      expect(plain.calls.get('setlk')).toBeUndefined();
    } finally {
      await local.teardown();
    }
  });
});

describe('cache invalidation', () => {
  it('makes the kernel forget an entry and an inode that changed behind its back', async () => {
    const fs = new MemFs(60);
    const m = await mountForTest(fs, OPTIONS);
    const ctx = ROOT;
    try {
      expect((await sh(`echo one > ${m.dir}/a && cat ${m.dir}/a`)).stdout).toBe('one\n');
      fs.rename(ctx, { parent: 1, name: 'a', newParent: 1, newName: 'b', flags: 0 }); // another client renames it
      expect((await sh(`cat ${m.dir}/a`)).stdout).toBe('one\n'); // still cached for 60 s
      expect(await m.session.invalidateEntry(1, 'a')).toBe(0);
      expect((await sh(`cat ${m.dir}/a`)).stderr).toContain('No such file or directory');
      expect(await m.session.invalidateEntry(1, 'never-looked-up')).toBe(-2);

      const ino = fs.nodes.get(1)!.entries!.get('b')!;
      expect((await sh(`stat -c %s ${m.dir}/b`)).stdout).toBe('4\n');
      fs.write(ctx, { ino, data: Buffer.from('longer\n'), offset: 0, fh: 0, flags: 0, writepage: false });
      expect((await sh(`stat -c %s ${m.dir}/b`)).stdout).toBe('4\n');
      expect(await m.session.invalidateInode(ino)).toBe(0);
      expect((await sh(`stat -c %s ${m.dir}/b && cat ${m.dir}/b`)).stdout).toBe('7\nlonger\n');
    } finally {
      await m.teardown();
    }
    expect(await m.session.invalidateEntry(1, 'a')).toBe(-107);
  });
});

/** A fresh directory for a test that mounts on its own; never left mounted or behind. */
async function withEmptyDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmfs-fuse-'));
  try {
    await body(dir);
  } finally {
    if (isMounted(dir)) await sh(`fusermount -u -z '${dir}'`);
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.out`, { force: true });
  }
}

describe('unmounting', () => {
  it('unmount() ends the loop and removes the mount; the session reports it', async () => {
    const m = await mountForTest(new MemFs(), OPTIONS);
    try {
      expect((await sh(`ls ${m.dir}`)).code).toBe(0);
      const unmounted = new Promise((resolve) => m.session.once('unmounted', resolve));
      await m.session.unmount();
      expect(await unmounted).toEqual({ result: 0, requested: true });
      expect(isMounted(m.dir)).toBe(false);
      expect(m.session.mounted).toBe(false);
      await m.session.unmount(); // idempotent
    } finally {
      await m.teardown();
    }
  });

  it('unmounts while a request is still being served, and answers it afterwards', async () => {
    let arrived!: () => void;
    const asked = new Promise<void>((resolve) => (arrived = resolve));
    class SlowLookup extends MemFs {
      answered = false;
      override async lookup(ctx: RequestContext, { parent, name }: LookupArgs): Promise<EntryResult> {
        if (name !== 'slow') return super.lookup(ctx, { parent, name });
        arrived();
        await new Promise((resolve) => setTimeout(resolve, 400));
        this.answered = true;
        throw fail('ENOENT');
      }
    }
    const fs = new SlowLookup();
    const m = await mountForTest(fs, OPTIONS);
    try {
      const pending = sh(`stat ${m.dir}/slow`);
      // Not a fixed wait: at a high load the stat's process starts later than any window.
      await asked;
      await m.session.unmount();
      expect(fs.answered).toBe(false);
      // The device stays open until the last answer: the late ENOENT still reaches stat.
      const r = await pending;
      expect(fs.answered).toBe(true);
      expect(r.stderr).toContain('No such file or directory');
      expect(m.errors).toEqual([]);
    } finally {
      await m.teardown();
    }
  });

  it('tears down a mount whose handler never answers without leaving its caller in D state', async () => {
    let arrived!: () => void;
    const asked = new Promise<void>((resolve) => (arrived = resolve));
    let answer!: () => void;
    const never = new Promise<void>((resolve) => (answer = resolve));
    class HungLookup extends MemFs {
      override async lookup(ctx: RequestContext, { parent, name }: LookupArgs): Promise<EntryResult> {
        if (name !== 'hung') return super.lookup(ctx, { parent, name });
        arrived();
        await never;
        throw fail('ENOENT');
      }
    }
    const m = await mountForTest(new HungLookup(), OPTIONS);
    try {
      const pending = sh(`stat ${m.dir}/hung`);
      await asked;
      await m.teardown();
      // Bounded: without the abort the stat waits for an answer that never comes.
      const late = new Promise<'still waiting'>((resolve) => setTimeout(() => resolve('still waiting'), 10_000).unref());
      const r = await Promise.race([pending, late]);
      expect(r).not.toBe('still waiting');
      // ECONNABORTED from an aborted connection (ENOTCONN on kernels before 6.x).
      expect((r as { stderr: string }).stderr).toMatch(/Software caused connection abort|Transport endpoint is not connected/);
    } finally {
      answer();
      await m.teardown();
    }
  });

  it('notices an external fusermount -u and emits unmounted', async () => {
    const m = await mountForTest(new MemFs(), OPTIONS);
    try {
      const unmounted = new Promise((resolve) => m.session.once('unmounted', resolve));
      const r = await sh(`fusermount -u ${m.dir}`);
      expect(r.stderr).toBe('');
      expect(await unmounted).toEqual({ result: 0, requested: false });
      expect(m.session.mounted).toBe(false);
    } finally {
      await m.teardown();
    }
  });

  it('unmount() ends the loop even while a process still uses the mount', async () => {
    const m = await mountForTest(new MemFs(), OPTIONS);
    try {
      const busy = sh(`cd ${m.dir} && sleep 2`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = Date.now();
      await m.session.unmount();
      expect(Date.now() - started).toBeLessThan(1000);
      expect(isMounted(m.dir)).toBe(false);
      await busy;
    } finally {
      await m.teardown();
    }
  });

  // These run the built wrapper (dist/) in a child Node process; `npm test` builds first.
  const built = existsSync(new URL('../dist/index.js', import.meta.url));
  const distIndex = JSON.stringify(new URL('../dist/index.js', import.meta.url).pathname);

  it.skipIf(!built)('lets the Node process exit once unmounted', async () => {
    await withEmptyDir(async (dir) => {
      const script = `
        const { FuseSession } = await import(${distIndex});
        const s = new FuseSession(${JSON.stringify(dir)}, {}, { mountOptions: ['fsname=exit-test'] });
        await s.mount();
        await s.unmount();
        console.log('done');`;
      const r = await sh(`timeout 20 node --input-type=module -e "$SCRIPT"; echo "rc=$?"`, { SCRIPT: script });
      expect(r.stdout).toBe('done\nrc=0\n');
      expect(isMounted(dir)).toBe(false);
    });
  });

  it('rejects a bad option without leaving a mount behind', async () => {
    await withEmptyDir(async (dir) => {
      const session = new FuseSession(dir, {}, { mountOptions: ['no_such_option'] });
      await expect(session.mount()).rejects.toThrow(/fuse_session_new failed/);
      expect(isMounted(dir)).toBe(false);
    });
  });
});

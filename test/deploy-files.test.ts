/**
 * The files an operator installs by hand (deploy/, docs/deployment.md): each systemd unit
 * starts a command this repo links, with the config file that daemon reads by default,
 * reloads by SIGHUP, and the master's is the OOM killer's last choice (as Debian's
 * moosefs-master.service); the example mount options file is what tsmfs-mount reads.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOptionsFile } from '../packages/mount/src/mount-options.js';
import { REPO_ROOT } from './fixture/cluster.js';

/** Every command some package links (package.json "bin"). */
function linkedCommands(): Set<string> {
  const out = new Set<string>();
  for (const pkg of readdirSync(join(REPO_ROOT, 'packages'))) {
    const json = JSON.parse(readFileSync(join(REPO_ROOT, 'packages', pkg, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
    for (const name of Object.keys(json.bin ?? {})) out.add(name);
  }
  return out;
}

/** KEY=VALUE lines of a unit's sections (repeated keys: the last). */
function unitKeys(text: string): Map<string, string> {
  return new Map(
    text
      .split('\n')
      .filter((l) => /^[A-Za-z]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string]),
  );
}

describe('deploy files', () => {
  const dir = join(REPO_ROOT, 'deploy/systemd');
  const units = readdirSync(dir).filter((f) => f.endsWith('.service'));

  it('a unit for every daemon, each starting a linked command with its default config file', () => {
    expect(units.sort()).toEqual(['tsmfs-chunkserver.service', 'tsmfs-master.service', 'tsmfs-metalogger.service']);
    const commands = linkedCommands();
    for (const u of units) {
      const daemon = u.replace(/^tsmfs-|\.service$/g, '');
      const keys = unitKeys(readFileSync(join(dir, u), 'utf8'));
      const exec = keys.get('ExecStart')!;
      const cmd = /node_modules\/\.bin\/(\S+)/.exec(exec)?.[1];
      expect(commands.has(cmd!), `${u}: ${cmd} is linked by a package`).toBe(true);
      expect(exec).toContain('-c ${CFGFILE}');
      const cfg = /^Environment=CFGFILE=(\S+)$/m.exec(readFileSync(join(dir, u), 'utf8'))?.[1];
      const source = readFileSync(join(REPO_ROOT, `packages/${daemon}/src/bin/tsmfs-${daemon}.ts`), 'utf8');
      expect(source, `${u}: CFGFILE is the daemon's own default config file`).toContain(`defaultConfigFile: '${cfg}'`);
      expect(keys.get('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
      expect(keys.get('WantedBy')).toBe('multi-user.target');
    }
    expect(unitKeys(readFileSync(join(dir, 'tsmfs-master.service'), 'utf8')).get('OOMScoreAdjust')).toBe('-999');
    // A daemon runs with the same node flags under systemd, as a command and from its source's build.
    for (const u of units) {
      const daemon = u.replace(/^tsmfs-|\.service$/g, '');
      const exec = unitKeys(readFileSync(join(dir, u), 'utf8')).get('ExecStart')!;
      const unitFlags = /^\/usr\/bin\/env node((?: --\S+)*) /.exec(exec)?.[1]?.trim() ?? '';
      const shebang = (file: string) => /^#!\/usr\/bin\/env (?:-S )?node((?: --\S+)*)$/m.exec(readFileSync(join(REPO_ROOT, file), 'utf8').split('\n')[0]!)?.[1]?.trim();
      expect(shebang(`packages/${daemon}/bin/tsmfs-${daemon}.js`), `${u}: the command's shebang`).toBe(unitFlags);
      expect(shebang(`packages/${daemon}/src/bin/tsmfs-${daemon}.ts`), `${u}: the source's shebang`).toBe(unitFlags);
    }
  });

  it('the example options file is one tsmfs-mount reads (every line a comment)', () => {
    expect(readOptionsFile(join(REPO_ROOT, 'deploy/tsmfsmount.cfg'))).toEqual({ options: [], mountpoint: undefined });
  });
});

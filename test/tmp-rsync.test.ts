import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import { Cluster } from './fixture/cluster.js';
import { shOk } from './fixture/mount-shell.js';
describe('tmp', () => {
  it('rsync once', { timeout: 420_000 }, async () => {
    const c = await Cluster.create({ master: { config: { REPLICATIONS_DELAY_INIT: 0 } } });
    await c.addChunkservers(2);
    const m = await c.mount();
    const M = m.path;
    for (let k = 0; k < 4; k++) {
    await shOk(`rsync -a /usr/lib/node_modules/npm/ ${M}/rs${k}/`);
    const ino = (await shOk(`stat -c %i ${M}/rs${k}/node_modules/@gar`)).trim();
    const t = (await shOk(`stat -c %Y ${M}/rs${k}/node_modules/@gar`)).trim();
    console.log('INO', ino, t, c.master.dataPath);
    if (t === '1796045941') continue;
    const dir = c.master.dataPath;
    const re = new RegExp(`\\b${ino}\\b`);
    for (const f of readdirSync(dir).filter((f) => f.startsWith('changelog'))) {
      const lines = readFileSync(`${dir}/${f}`, 'utf8').split('\n');
      lines.forEach((l, i) => { if (re.test(l)) console.log('CL', f, i, l.slice(0, 300)); });
    }
    console.log('KINO', ino); break;
    }
  });
});

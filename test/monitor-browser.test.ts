/**
 * The web monitor in a real browser: Debian's chromium, headless, driven by
 * playwright-core. Every request the page makes is checked to stay on the master's
 * loopback port (no CDN, nothing else), the chunkservers table must list the cluster's
 * servers, a chart must be drawn, and a screenshot goes to test-artifacts/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { O_RDWR } from '@tsmfs/client';
import { type Page, chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { Cluster, REPO_ROOT, makeTempDir } from './fixture/cluster.js';
import { Etcd } from './fixture/etcd.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Opens `origin`'s monitor in a fresh headless chromium and runs `check` once the page has
 * loaded; every request must stay on that origin and the page may log no error.
 */
async function inBrowser(origin: string, check: (page: Page) => Promise<void>): Promise<void> {
  // A fresh profile per run (playwright passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(makeTempDir('tsmfs-chromium-'), { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1280, height: 900 } });
  const foreign: string[] = [];
  try {
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${origin}/`)) return route.continue();
      foreign.push(url);
      return route.abort();
    });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => (m.type() === 'error' ? errors.push(m.text()) : undefined));
    await page.goto(`${origin}/`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
    await check(page);
    expect(errors).toEqual([]);
    expect(foreign).toEqual([]);
  } finally {
    await context.close();
  }
}

describe.skipIf(!existsSync(CHROMIUM))('web monitor in chromium', () => {
  it('shows the chunkservers and draws the charts with nothing but the master', async () => {
    // A topology line: every server is in rack dc|r1, which the chunkservers table shows.
    const c = await Cluster.create({ master: { topology: ['127.0.0.0/8  dc|r1'], config: { REPLICATIONS_DELAY_INIT: 0, CHUNKS_LOOP_MIN_TIME: 1 } } });
    const servers = await c.addChunkservers(3);
    const s = await c.session();
    const a = await s.create(s.root, 'file');
    await s.setgoal(a.inode, 2);
    const h = await s.openFile(a.inode, O_RDWR);
    await h.write(0, Buffer.alloc(3 * 1024 * 1024, 5));
    await h.close();
    const proj = await s.mkdir(s.root, 'proj');
    await s.call('setquota', { cred: s.cred, inode: proj.inode, soft: { inodes: 1 }, hard: { inodes: 10 } });
    await s.create(proj.inode, 'x');
    await s.create(proj.inode, 'y');

    await inBrowser(`http://127.0.0.1:${c.master.ports.http}`, async (page) => {
      const rows = page.locator('#chunkservers tbody tr');
      await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(3);
      const addresses = (await rows.evaluateAll((trs) => trs.map((tr) => (tr as unknown as { cells: { textContent: string }[] }).cells[1]!.textContent))).sort();
      expect(addresses).toEqual(servers.map((cs) => `127.0.0.1:${cs.port}`).sort());
      expect(await page.locator('#chunkservers tbody tr', { hasText: 'online' }).count()).toBe(3);
      expect(await page.locator('#chunkservers tbody tr', { hasText: 'dc|r1' }).count()).toBe(3);
      // Under the health matrix, MooseFS's classes: the goal-2 file's one chunk on two servers.
      await expect.poll(() => page.locator('#health-classes').textContent(), { timeout: 15_000 }).toContain('endangered: 0 / undergoal: 0 / stable: 1 /');
      // A master alone shows no group.
      expect(await page.locator('#group-section').isHidden()).toBe(true);

      // The history ring takes a sample every 5 s and the page refreshes every 5 s.
      // 'attached', not 'visible': a flat line has an empty bounding box.
      await page.waitForSelector('#chart-space polyline.series', { state: 'attached', timeout: 20_000 });
      const points = await page.locator('#chart-space polyline.series').first().getAttribute('points');
      expect(points!.split(' ').length).toBeGreaterThanOrEqual(2);
      expect(await page.locator('#chart-ops polyline.series').count()).toBe(1);
      expect(await page.locator('#chart-io polyline.series').count()).toBe(2);
      await expect.poll(() => page.locator('#health tbody tr').count()).toBeGreaterThan(0);
      // Replications in flight by kind, one card.
      expect(await page.locator('#cards .card', { hasText: 'replicating (endangered' }).locator('.v').textContent()).toMatch(/^\d+ \/ \d+ \/ \d+ \/ \d+$/);
      // The quota: 2 of 10 inodes (x and y), its soft limit of 1 passed (grace running).
      const quota = page.locator('#quotas tbody tr');
      expect(await quota.count()).toBe(1);
      expect(await quota.textContent()).toMatch(/\/proj.*soft.*2 \/ 1 \/ 10/);

      const dir = join(REPO_ROOT, 'test-artifacts');
      mkdirSync(dir, { recursive: true });
      await page.screenshot({ path: join(dir, 'monitor.png'), fullPage: true });
    });
  });

  it('shows an HA group: the leader with its synchronous standbys, a follower naming its leader', async () => {
    const etcd = await Etcd.start();
    const c = await Cluster.create({ ha: { etcd, hosts: ['127.0.0.1', '127.0.0.2', '127.0.0.3'] }, master: { config: { HA_SYNC_STANDBYS: 1 } } });
    const { leader } = await c.group!.leader();
    const follower = c.masters.find((m) => m !== leader)!;
    await inBrowser(leader.httpUrl, async (page) => {
      await expect.poll(() => page.locator('#group tbody tr', { hasText: 'synchronous standbys' }).textContent(), { timeout: 20_000 }).toMatch(/set in etcd: 127\.0\.0\.\d:/);
      expect(await page.locator('#group tbody tr', { hasText: 'this master' }).textContent()).toContain('(leader)');
      await expect.poll(() => page.locator('#standbys tbody tr').count()).toBe(2);
      expect(await page.locator('#standbys tbody tr', { hasText: 'in' }).count()).toBeGreaterThanOrEqual(1);
    });
    await inBrowser(follower.httpUrl, async (page) => {
      await expect.poll(() => page.locator('#group tbody tr', { hasText: 'this master' }).textContent(), { timeout: 20_000 }).toContain('(follower)');
      expect(await page.locator('#group tbody tr', { hasText: 'leader' }).first().textContent()).toContain(`${leader.host}:${leader.ports.matocl}`);
      expect(await page.locator('#standbys').isHidden()).toBe(true);
    });
  });
});

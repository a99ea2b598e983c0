import { readdirSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const root = fileURLToPath(new URL('.', import.meta.url));
const packages = `${root}packages/`;

// Unit tests import sibling packages from source, so they never run against a stale
// build; end-to-end tests spawn the built daemons (npm test builds first).
const alias = Object.fromEntries(
  readdirSync(packages).map((name) => [`@tsmfs/${name}`, `${packages}${name}/src/index.ts`]),
);

/**
 * The files that take longest, slowest first (a whole run's JSON report, at load 10-17,
 * 2026-12-01). Two workers end together only if no long file starts last: on a fresh
 * clone vitest knows no durations and starts the largest files first, and the longest
 * one (mount-workloads, ~90 lines) came among the last. A file missing here only runs
 * later; the list is an order, not a selection.
 */
const SLOWEST_FIRST = [
  'test/mount-workloads.test.ts',
  'packages/chunkserver/src/chunk-file.test.ts',
  'test/mount-cluster.test.ts',
  'test/limits-flood.test.ts',
  'test/mount-leases.test.ts',
  'test/read-during-version-change.test.ts',
  'test/deep-tree.test.ts',
  'test/ha-shadow.test.ts',
  'test/mount.test.ts',
  'test/monitor-browser.test.ts',
  'test/mount-dir-attrs.test.ts',
  'test/cli-tools.test.ts',
  'test/data-path.test.ts',
  'test/mount-sizes.test.ts',
  'packages/master/src/metadata/tree-walk.test.ts',
  'packages/fuse/src/session.test.ts',
];

class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (f: TestSpecification): number => {
      const i = SLOWEST_FIRST.indexOf(relative(root, f.moduleId));
      return i < 0 ? SLOWEST_FIRST.length : i;
    };
    // Stable: the others keep vitest's own order (its recorded durations when it has them).
    return (await super.sort(files)).map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
  }
}

export default defineConfig({
  resolve: { alias },
  test: {
    // One worker per core (vitest's default leaves one core idle). The end-to-end tests
    // start real daemons and mostly wait on them (timers, fsync, round trips), so two
    // files at a time, unit or end-to-end, keep both cores busy; every test is written
    // to hold on a loaded machine.
    maxWorkers: 2,
    sequence: { sequencer: SlowestFirst },
    // One temporary root per run, removed at its end (test/setup/temp-root.ts).
    globalSetup: ['test/setup/temp-root.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts'],
          testTimeout: 60_000,
          // The unit files share worker processes instead of each starting one and
          // importing the packages' sources again (20 files: 32-52 s shared against
          // 74-217 s isolated). So each file must stop what it starts: a timer left
          // running fires in whatever file the worker runs next.
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});

import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const packages = fileURLToPath(new URL('./packages/', import.meta.url));

// Unit tests import sibling packages from source, so they never run against a stale
// build; end-to-end tests spawn the built daemons (npm test builds first).
const alias = Object.fromEntries(
  readdirSync(packages).map((name) => [`@tsmfs/${name}`, `${packages}${name}/src/index.ts`]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    // One worker per core (vitest's default leaves one core idle). The end-to-end tests
    // start real daemons and mostly wait on them (timers, fsync, round trips), so two
    // files at a time, unit or end-to-end, keep both cores busy; every test is written
    // to hold on a loaded machine.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'], testTimeout: 60_000 },
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

/**
 * The TypeScript tests (tests/**\/*.test.ts) under vitest.
 *
 * Sources, not tsc's output: vitest transforms the test files and what they import from the
 * repository (common/, coordinator/, …) itself, so a test runs the TypeScript as it is on disk.
 * Two things still come from `npm run build`, on purpose:
 * - the native addon (native/*.node): common/native.ts finds it by walking up from its own file to
 *   package.json, which works from the sources as from dist/;
 * - dist/: most tests run the real CLI (dist/cli/main.js) and the synthetic-model generator as
 *   child processes, and the API and docs tests import the package by its own name (`arrowquant`
 *   → dist/api/index.js), as a user does. tests/helpers/cli.ts finds dist/ from the repository
 *   root, so the helpers also work compiled (benches/cluster.ts imports them from dist/tests/).
 * So build first (scripts/test-all.sh does); a test then sees the sources as they are and the CLI
 * as last built.
 *
 * Scheduling is what `node --test` did: every test file in its own child process (forks,
 * isolated), at most os.availableParallelism() − 1 files at a time (node --test's default
 * --test-concurrency; one at a time on a 2-core machine), the tests of a file one after another.
 * The cluster and deploy tests start a real etcd, coordinators and workers on free loopback ports;
 * the pipeline tests spawn CLI processes that use every core.
 *
 * Timeouts: node:test has none by default, so none of these tests was written against one. The
 * slowest test takes ~20 s and the cluster file's hooks and tests ~2 min together on 2 cores;
 * 10 minutes per test and per hook only stops a hung test from eating the CI budget.
 */
import { availableParallelism } from 'node:os';

import { defineConfig } from 'vitest/config';

const TEN_MINUTES = 10 * 60_000;

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // dist/ holds tsc's copies of the tests (dist/tests/**/*.test.js): never collect those.
    // tests/edge/arm64.test.ts (the arm64 package and an aarch64 worker under qemu) needs the
    // aarch64 addon, whose cross-build takes 8-14 minutes on two cores: it runs under
    // `npm run test:edge` (ARROWQUANT_EDGE=1), not in `npm test`'s 45-minute budget.
    exclude: ['**/node_modules/**', 'dist/**', 'target/**', ...(process.env.ARROWQUANT_EDGE === '1' ? [] : ['tests/edge/arm64.test.ts'])],
    pool: 'forks',
    isolate: true,
    maxWorkers: Math.max(1, availableParallelism() - 1),
    fileParallelism: true,
    sequence: { concurrent: false },
    testTimeout: TEN_MINUTES,
    hookTimeout: TEN_MINUTES,
    teardownTimeout: 60_000,
    // Every test's name and result as it finishes, then the closing summary.
    reporters: ['verbose'],
    server: {
      deps: {
        // The compiled package (dist/, reached through `import 'arrowquant'`) is loaded by Node
        // itself, as a consumer loads it, not re-transformed by vitest.
        external: [/\/node_modules\//, /\/dist\//],
      },
    },
  },
});

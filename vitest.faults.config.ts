/**
 * `npm run test:faults`: the fault-injection suite (test/faults/). It owns its PostgreSQL (it
 * stops and restarts it), so it runs apart from the main suite, one file at a time.
 */
import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    exclude: [...configDefaults.exclude, "node_modules/**", "dist/**"],
    globalSetup: ["test/faults/setup.ts"],
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 300_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
});

import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: [...configDefaults.exclude, "examples/**", "bench/**", "node_modules/**", "dist/**", "scratch/**", "test/faults/**"],
    // Starts embedded PostgreSQL (or uses DATABASE_URL) and provides "adminUrl".
    globalSetup: ["test/setup/global-setup.ts"],
    pool: "forks",
    // Every test file creates its own database(s) and pools; keep the total
    // connection count well under the server's max_connections (100 by default).
    maxWorkers: 2,
    fileParallelism: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});

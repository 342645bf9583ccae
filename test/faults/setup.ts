/**
 * Global setup of `npm run test:faults` (vitest.faults.config.ts), in the main vitest process.
 *
 * - Starts a PostgreSQL the suite owns (test/faults/support/server.ts): tests may stop it
 *   (fast/immediate) and start it again, which a shared server (DATABASE_URL, the main suite's
 *   embedded one) must never see. DATABASE_URL is ignored here on purpose.
 * - Provides "adminUrl" and "testRunId", so test/helpers (a database per file) work unchanged,
 *   plus "faultServer" (to stop/start it) and "faultResultsDir".
 * - At the end prints ONE table of every scenario's result (scenario → jobs, lost, duplicated
 *   effects, max recovery time) and writes it to test/faults/results.md.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { createOwnedServer, type ServerInfo } from "./support/server.ts";
import { formatResults, type ScenarioResult } from "./support/results.ts";
import type {} from "../setup/global-setup.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The fault suite's own server: stop and start it with test/faults/support/server.ts. */
    faultServer: ServerInfo;
    /** Where scenarios drop their result (one JSON file each) for the final table. */
    faultResultsDir: string;
  }
}

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  generatePrismaClientIfMissing();
  const resultsDir = await mkdtemp(join(tmpdir(), "arrower-faults-results-"));
  const server = await createOwnedServer();
  project.provide("adminUrl", server.info.url);
  project.provide("testRunId", randomBytes(4).toString("hex"));
  project.provide("faultServer", server.info);
  project.provide("faultResultsDir", resultsDir);
  const started = Date.now();

  return async () => {
    try {
      const files = (await readdir(resultsDir)).filter((f) => f.endsWith(".json")).sort();
      const results = await Promise.all(files.map(async (f) => JSON.parse(await readFile(join(resultsDir, f), "utf8")) as ScenarioResult));
      if (results.length > 0) {
        const table = formatResults(results, Date.now() - started);
        process.stdout.write(`\n${table}\n`);
        await writeFile(join(repoRoot, "test", "faults", "results.md"), table);
      }
    } finally {
      await rm(resultsDir, { recursive: true, force: true });
      await server.destroy();
    }
  };
}

/** The test app's Prisma client (test/generated/) is gitignored; CI generates it first. */
function generatePrismaClientIfMissing(): void {
  const schema = join(repoRoot, "prisma", "schema.prisma");
  const client = join(repoRoot, "test", "generated", "prisma", "client.ts");
  if (existsSync(client) && statSync(client).mtimeMs >= statSync(schema).mtimeMs) return;
  execFileSync("npx", ["--no", "--", "prisma", "generate"], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "inherit"],
    env: {
      ...process.env,
      PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
      PRISMA_HIDE_UPDATE_MESSAGE: "1",
      CHECKPOINT_DISABLE: "1",
    },
  });
}

/**
 * What `npx arrower-jobs worker` runs (here: `npx tsx src/cli/main.ts worker --config
 * examples/welcome/arrower-jobs.config.ts`, with DATABASE_URL set).
 */
import { defineConfig, handle } from "../../src/index.ts";
import { createPrisma } from "./db.ts";
import { SendWelcome, sendWelcome } from "./jobs.ts";

export default defineConfig({
  prisma: createPrisma(),
  queues: [{ name: "default", poolSize: 2, handlers: [handle(SendWelcome, sendWelcome)] }],
});

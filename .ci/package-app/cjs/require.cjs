// A CommonJS consumer: require() of the package and its sub-paths (Node >= 20.19 loads the ES
// modules synchronously), used as the README shows.
const assert = require("node:assert/strict");
const { readdirSync } = require("node:fs");
const { dirname, join, relative } = require("node:path");
const { defineJob, jobs, ArrowerJobsError } = require("arrower-jobs");
const { createTestingJobs } = require("arrower-jobs/testing");
const { createAdminApp } = require("arrower-jobs/admin");

// require(esm) refuses a module graph with top-level await (ERR_REQUIRE_ASYNC_MODULE): load every
// module the package ships, not only the entry points, so one added anywhere fails here. The
// CLI entry is left out: loading it runs the CLI.
const dist = join(dirname(require.resolve("arrower-jobs/package.json")), "dist");
const modules = readdirSync(dist, { recursive: true }).filter((f) => f.endsWith(".js") && f !== join("cli", "main.js"));
for (const file of modules) {
  try {
    require(join(dist, file));
  } catch (error) {
    throw new Error(`require() of arrower-jobs/dist/${file} failed: ${error.code ?? ""} ${error.message}`);
  }
}
assert.ok(modules.length > 20, `only ${modules.length} modules in ${relative(process.cwd(), dist)}`);

const Greet = defineJob("greet");
assert.equal(typeof jobs, "function");
assert.equal(typeof createAdminApp, "function");
assert.throws(() => defineJob(""), ArrowerJobsError);

(async () => {
  const testing = createTestingJobs();
  await testing.enqueue(Greet({ accountId: 1, at: new Date() }));
  testing.assert().queued(Greet, 1);
  const greeted = [];
  await testing.register(Greet, async ({ accountId }) => void greeted.push(accountId));
  await testing.drain();
  assert.deepEqual(greeted, [1]);
  console.log(`require(): ok (${modules.length} modules, no top-level await)`);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});

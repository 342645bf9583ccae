// The example's own vitest config: `npx vitest run --root examples/testing`. The root config
// excludes examples/**, and this suite needs no database (no global setup).
//
// The example imports "arrower-jobs" as your app would. In your app that is the installed
// package and this config needs no `alias`; here it points the package's names at this
// repository's source, so the example runs without a build.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (file: string) => fileURLToPath(new URL(`../../src/${file}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^arrower-jobs\/testing$/, replacement: src("testing.ts") },
      { find: /^arrower-jobs$/, replacement: src("index.ts") },
    ],
  },
  test: {
    include: ["signup.test.ts"],
  },
});

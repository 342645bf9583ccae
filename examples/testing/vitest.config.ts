// The example's own vitest config: `npx vitest run --root examples/testing`. The root config
// excludes examples/**, and this suite needs no database (no global setup).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["signup.test.ts"],
  },
});

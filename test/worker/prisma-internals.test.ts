/**
 * Workers hook Prisma's and @prisma/adapter-pg's internals (not public API), in one place that
 * `jobs()` runs first. A Prisma minor that changed them must fail there, or at the client's first
 * query, saying which versions are installed and which are supported, not let a handler's
 * writes land outside its job's transaction. (.ci/package-smoke.sh runs a handler's transaction
 * on the oldest and the newest supported Prisma.)
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { IntegrationError, jobs } from "../../src/index.ts";
import { installedVersion, SUPPORTED_PRISMA } from "../../src/prisma/connection.ts";
import { PrismaClient } from "../generated/prisma/client.ts";

const root = join(import.meta.dirname, "../..");
const versionOf = (name: string) => (JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;

/** The end of every such message: the versions found, the range supported, the fix. */
const versions =
  `Installed: @prisma/client ${versionOf("@prisma/client")}, @prisma/adapter-pg ${versionOf("@prisma/adapter-pg")}; ` +
  `arrower-jobs supports both >=7.5.0 <8. Install versions in that range (npm install @prisma/client@7 @prisma/adapter-pg@7 prisma@7), ` +
  "or an arrower-jobs release that supports yours";

type Adapter = NonNullable<ConstructorParameters<typeof PrismaClient>[0]["adapter"]>;

/** A future @prisma/adapter-pg whose factory keeps its pool elsewhere (no `externalPool`, no `config`). */
function changedFactory(): Adapter {
  return {
    provider: "postgres",
    adapterName: "@prisma/adapter-pg",
    connect: () => Promise.reject(new Error("not connected in this test")),
  };
}

describe("Prisma internals: checked at jobs(), failures name the versions", () => {
  it("an adapter-pg factory without the fields we read: jobs() throws, naming the field and the versions", () => {
    const client = new PrismaClient({ adapter: changedFactory() });
    let thrown: unknown;
    try {
      client.$extends(jobs());
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(IntegrationError);
    expect((thrown as IntegrationError).code).toBe("INTEGRATION");
    expect((thrown as Error).message).toBe(`arrower-jobs cannot hook this Prisma client: \`PrismaPg\` has no \`externalPool\` field (found undefined). ${versions}`);
  });

  it("a client whose internals moved (no `_engineConfig`): jobs() throws naming it", () => {
    // A plain object standing in for a future PrismaClient: public methods only.
    const client = {
      $extends(extension: unknown) {
        return typeof extension === "function" ? (extension as (c: unknown) => unknown)(this) : this;
      },
      $transaction: async () => undefined,
      $disconnect: async () => undefined,
      $queryRawUnsafe: async () => [],
    };
    expect(() => client.$extends(jobs())).toThrow(
      new IntegrationError(`arrower-jobs cannot hook this Prisma client: the Prisma client has no \`_engineConfig\` object (found undefined). ${versions}`),
    );
  });

  it("an adapter that connects without underlyingDriver(): the client's first query fails naming the versions", async () => {
    // adapter-pg's factory as today, whose connect() returns a changed adapter.
    const factory = {
      provider: "postgres" as const,
      adapterName: "@prisma/adapter-pg",
      externalPool: null,
      config: { connectionString: "postgresql://localhost/unused" },
      connect: async () => ({ provider: "postgres", adapterName: "@prisma/adapter-pg", pool: {} }),
    };
    const prisma = new PrismaClient({ adapter: factory as unknown as Adapter }).$extends(jobs());
    // Prisma wraps the error of its adapter's connect() in its own, with our code and message.
    await expect(prisma.$queryRawUnsafe("SELECT 1")).rejects.toMatchObject({
      code: "INTEGRATION",
      message: expect.stringContaining(
        `arrower-jobs cannot hook this Prisma client: the adapter \`PrismaPg.connect()\` returns has no \`underlyingDriver()\` method (found undefined). ${versions}`,
      ),
    });
  });

  it("the supported range is the package's peer dependency range for both packages", () => {
    const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { peerDependencies: Record<string, string> };
    expect(manifest.peerDependencies).toMatchObject({ "@prisma/client": SUPPORTED_PRISMA, "@prisma/adapter-pg": SUPPORTED_PRISMA });
  });

  it("the installed version of a package that is not there reads 'not installed' (the message never throws)", () => {
    expect(installedVersion("@prisma/adapter-does-not-exist")).toBe("not installed");
    expect(installedVersion("@prisma/adapter-pg")).toBe(versionOf("@prisma/adapter-pg"));
  });
});

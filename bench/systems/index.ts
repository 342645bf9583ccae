/** Loads a system's module on demand (each child imports only the library it measures). */
import type { SystemId, SystemModule } from "./types.ts";

export async function loadSystem(id: SystemId): Promise<SystemModule> {
  switch (id) {
    case "arrower":
      return (await import("./arrower.ts")).arrower;
    case "graphile":
      return (await import("./graphile.ts")).graphile;
    case "pgboss":
      return (await import("./pgboss.ts")).pgboss;
    case "bullmqpg":
      return (await import("./bullmq.ts")).bullmqPg;
    case "bullmqredis":
      return (await import("./bullmq.ts")).bullmqRedis;
  }
}

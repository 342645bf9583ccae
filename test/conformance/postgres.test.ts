// The shared enqueue contract, on the PostgreSQL queue: `prisma.$jobs` on a fresh database,
// read back from arrower.jobs on an independent connection, decoded as the worker decodes.
import { deserializePayload } from "../../src/payload.ts";
import { createTestApp } from "../helpers/app.ts";
import { enqueueConformance, type ConformanceRow } from "./enqueue.suite.ts";

interface JobRow {
  type: string;
  queue: string;
  payload: unknown;
  payload_meta: unknown;
  priority: number;
  dedup_key: string | null;
}

enqueueConformance("postgres", async () => {
  const app = await createTestApp();
  return {
    jobs: app.prisma.$jobs,
    async queued(): Promise<ConformanceRow[]> {
      const rows = await app.rows<JobRow>(`SELECT type, queue, payload, payload_meta, priority, dedup_key FROM arrower.jobs ORDER BY id`);
      return rows.map((r) => ({
        type: r.type,
        queue: r.queue,
        payload: deserializePayload(r.payload, r.payload_meta),
        priority: r.priority,
        dedupKey: r.dedup_key,
      }));
    },
    close: () => app.close(),
  };
});

/**
 * The database's own limit for the work a queue does, measured with `pgbench`: 10 clients on a
 * 20,000-row table claim due rows with `FOR UPDATE SKIP LOCKED` and delete them, one row per
 * transaction, and ten rows per transaction. Two statements per transaction (claim, then delete),
 * as a worker sends them; prepared statements (`-M prepared`).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withClient } from "./server.ts";

export const PGBENCH_ROWS = 20_000;
export const PGBENCH_CLIENTS = 10;

const SETUP = `
CREATE TABLE q (
  id       bigserial PRIMARY KEY,
  queue    text NOT NULL DEFAULT 'default',
  priority integer NOT NULL DEFAULT 0,
  run_at   timestamptz NOT NULL DEFAULT now(),
  payload  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX q_claim ON q (queue, priority, run_at, id);
INSERT INTO q (payload) SELECT jsonb_build_object('i', g) FROM generate_series(1, ${PGBENCH_ROWS}) g;
`;

const CLAIM = "FROM q WHERE queue = 'default' AND run_at <= now() ORDER BY priority, run_at, id";

export const SCRIPTS = {
  one: `BEGIN;
SELECT coalesce((SELECT id ${CLAIM} LIMIT 1 FOR UPDATE SKIP LOCKED), 0) AS id \\gset
DELETE FROM q WHERE id = :id;
COMMIT;
`,
  ten: `BEGIN;
SELECT coalesce(array_agg(id), '{}') AS ids FROM (SELECT id ${CLAIM} LIMIT 10 FOR UPDATE SKIP LOCKED) s \\gset
DELETE FROM q WHERE id = ANY(:ids::bigint[]);
COMMIT;
`,
} as const;

export type PgbenchVariant = keyof typeof SCRIPTS;

export interface PgbenchResult {
  variant: PgbenchVariant;
  tps: number;
  rowsPerSecond: number;
  transactions: number;
  rowsDeleted: number;
}

export function pgbenchPath(): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile("sh", ["-c", "command -v pgbench"], (error, stdout) => resolve(error ? undefined : stdout.trim() || undefined));
  });
}

/** Runs one pgbench measurement in the (empty) database at `url`. */
export async function runPgbench(binary: string, url: string, variant: PgbenchVariant): Promise<PgbenchResult> {
  await withClient(url, async (client) => {
    await client.query(SETUP);
    await client.query("VACUUM ANALYZE q"); // not inside the multi-statement (implicit) transaction
  });
  const rowsPerTx = variant === "one" ? 1 : 10;
  const perClient = PGBENCH_ROWS / rowsPerTx / PGBENCH_CLIENTS;
  const dir = await mkdtemp(join(tmpdir(), "arrower-pgbench-"));
  try {
    const script = join(dir, `${variant}.sql`);
    await writeFile(script, SCRIPTS[variant]);
    const args = ["-n", "-M", "prepared", "-c", String(PGBENCH_CLIENTS), "-j", "2", "-t", String(perClient), "-f", script, url];
    const output = await new Promise<string>((resolve, reject) => {
      execFile(binary, args, { timeout: 300_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`pgbench failed: ${error.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
    const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1]);
    const processed = Number(/actually processed: (\d+)/.exec(output)?.[1]);
    if (!Number.isFinite(tps) || !Number.isFinite(processed)) throw new Error(`cannot read pgbench output:\n${output}`);
    const left = await withClient(url, async (client) => (await client.query<{ n: number }>("SELECT count(*)::int AS n FROM q")).rows[0]!.n);
    const rowsDeleted = PGBENCH_ROWS - left;
    return { variant, tps, rowsPerSecond: (tps * rowsDeleted) / processed, transactions: processed, rowsDeleted };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

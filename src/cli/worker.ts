/**
 * `arrower-jobs worker`: runs the queues of the config file until SIGINT/SIGTERM.
 *
 * Shutdown follows graphile-worker: the first signal stops claiming and waits for running jobs
 * (each queue's `shutdownDeadline`, 30 s by default, after which their signals are aborted and
 * they roll back without counting an attempt); a second signal forces it and exits 1.
 *
 * Under npm (`npx arrower-jobs worker`, `npm run …`) the worker also shuts down when its parent
 * exits: npm passes SIGTERM only to the shell it started the bin in, which dies without passing
 * it on, and the worker would go on claiming jobs as an orphan.
 */
import { engineOf, type JobsClient } from "../client.ts";
import { closest } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { Queue } from "../queue.ts";
import { CliError, errorMessage, EXIT, formatFlags, listFlag, parseFlags, positiveInteger, type Command, type FlagSpecs } from "./args.ts";
import { loadConfig, type LoadedConfig, type LoadedQueue } from "./load-config.ts";

const FLAGS = {
  config: { type: "string", short: "c", value: "path", description: "Config file. Default: arrower-jobs.config.ts (or .mts, .js, .mjs) in this directory." },
  queue: { type: "string", short: "q", value: "a,b", description: "Run only these queues of the config. Default: all of them." },
  "pool-size": { type: "string", value: "n", description: "Jobs run at once per queue (one connection each), overriding the config." },
} satisfies FlagSpecs;

/**
 * After a second signal, how long the forced shutdown may take before the process exits anyway.
 * Jobs still running then die with the process: PostgreSQL rolls their transactions back, and
 * the attempt counts as crashed.
 */
const FORCE_EXIT_MS = 3_000;

/**
 * How often a worker started by npm checks that its parent is still there (one getppid call):
 * the delay between npm's exit and the worker's graceful shutdown.
 */
const PARENT_CHECK_MS = 1_000;

/** The `worker` command. */
export const workerCommand: Command = {
  name: "worker",
  summary: "Run the queues of the config file until SIGINT/SIGTERM",
  help: () => `Usage: arrower-jobs worker [--config path] [--queue a,b] [--pool-size n]

Runs a worker pool for each queue of the config file, each job in a transaction of its own.
The first SIGINT/SIGTERM (Ctrl-C) stops claiming jobs and waits for the running ones (up to
each queue's shutdownDeadline, 30 s by default); a second one aborts them and exits 1.

Under a process manager (Docker, systemd, Kubernetes), start the bin itself so that it receives
the manager's SIGTERM: node_modules/.bin/arrower-jobs worker (exec form in a Dockerfile CMD,
\`exec\` in a shell script). npm does not pass SIGTERM on to it; a worker started through npx or
npm run shuts down gracefully within a second of npm exiting instead.

Flags:
${formatFlags(FLAGS)}

Each queue needs poolSize + 1 database connections (one per running job, one to LISTEN).`,
  run,
};

async function run(argv: readonly string[]): Promise<number> {
  const flags = parseFlags("worker", argv, FLAGS);
  if (flags.help) {
    console.log(workerCommand.help());
    return EXIT.ok;
  }
  const poolSize = flags["pool-size"] === undefined ? undefined : positiveInteger(flags["pool-size"], "--pool-size", 1000);
  // Listen from the start: a signal while the config loads (which can take seconds) must end
  // the worker cleanly too, not kill it halfway.
  const shutdown = new Shutdown();
  process.on("SIGINT", shutdown.onSignal);
  process.on("SIGTERM", shutdown.onSignal);
  if (underNpm()) watchParent(shutdown.onParentExit);
  const loaded = await loadConfig(flags.config);
  const selected = selectQueues(loaded, flags.queue);
  const prisma = loaded.config.prisma as { $jobs: JobsClient<unknown>; $disconnect?: () => Promise<void> };
  const logger = engineOf(prisma.$jobs).logger;
  const disconnect = () => prisma.$disconnect?.().catch((error: unknown) => logger.warn("prisma.$disconnect failed", { error: errorMessage(error) }));

  const queues: Queue<unknown>[] = [];
  try {
    for (const q of selected) {
      const queue = prisma.$jobs.queue(q.name, poolSize === undefined ? q.options : { ...q.options, poolSize });
      queues.push(queue);
      for (const { type, handler } of q.handlers) await queue.register(type, handler);
    }
  } catch (error) {
    // The config passed the loader's checks, so this is what only the library can tell (e.g. a
    // client without transaction support): still the config's problem.
    await Promise.allSettled(queues.map((queue) => queue.shutdown()));
    await disconnect();
    throw new CliError(`${loaded.display}: ${errorMessage(error)}`);
  }

  // From here a signal shuts the queues down; one that arrives while they start still stops them
  // cleanly (shutdown waits for a start in progress).
  shutdown.attach(queues, logger);
  if (shutdown.requested) {
    const code = await shutdown.done;
    await disconnect();
    return code;
  }

  const started = await Promise.allSettled(queues.map((queue) => queue.start()));
  const failures = started.flatMap((result, i) => (result.status === "rejected" ? [`queue "${selected[i]!.name}" cannot start: ${errorMessage(result.reason)}`] : []));
  if (failures.length > 0) {
    shutdown.begin();
    await shutdown.done;
    await disconnect();
    throw new CliError(failures.join("\n"), EXIT.failure);
  }
  logger.info("worker running: stop it with SIGINT (Ctrl-C) or SIGTERM", {
    config: loaded.display,
    queues: selected.map((q) => q.name).join(","),
    pid: process.pid,
  });

  const code = await shutdown.done;
  // Forced: exit now. Prisma's pool would wait for connections still busy with aborted jobs.
  if (!shutdown.forced) await disconnect();
  logger.info("worker stopped", { pid: process.pid });
  return code;
}

/** The queues `--queue` selects (all by default). */
function selectQueues(loaded: LoadedConfig, flag: string | undefined): LoadedQueue[] {
  const configured = loaded.queues.map((q) => q.name);
  if (configured.length === 0) {
    throw new CliError(`${loaded.display}: defines no queues, so the worker has nothing to run: add queues: [{ name, handlers }]`);
  }
  if (flag === undefined) return loaded.queues;
  const names = listFlag(flag);
  if (names.length === 0) throw new CliError("--queue needs at least one queue name, e.g. --queue default,emails");
  for (const name of names) {
    if (configured.includes(name)) continue;
    const suggestion = closest(name, configured);
    throw new CliError(
      `unknown queue "${name}" in --queue${suggestion ? ` (did you mean "${suggestion}"?)` : ""}: ${loaded.display} defines ${configured.map((q) => `"${q}"`).join(", ")}`,
    );
  }
  return loaded.queues.filter((q) => names.includes(q.name));
}

/**
 * Whether npm (or pnpm, yarn: they set the same variable) started this process, through npx,
 * `npm exec` or a package.json script.
 */
function underNpm(): boolean {
  return process.env.npm_lifecycle_event !== undefined;
}

/**
 * Calls `onExit` with the parent's pid once the parent process has exited (this process then has
 * another parent: init, or a subreaper). Polls, as Node has no event for it; the timer does not
 * keep the process alive. Only under npm: otherwise a worker may outlive its parent on purpose
 * (`nohup`, a script that starts it in the background and exits).
 */
function watchParent(onExit: (parent: number) => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onExit(parent);
  }, PARENT_CHECK_MS);
  timer.unref();
}

/** Graceful on the first signal, forced on the second, immediate on the third. */
class Shutdown {
  private signals = 0;
  private queues: Queue<unknown>[] = [];
  private logger: Logger | undefined;
  private resolve!: (code: number) => void;
  /** Resolves with the exit code once the queues have stopped. */
  readonly done = new Promise<number>((resolve) => (this.resolve = resolve));

  /** A signal has arrived. */
  get requested(): boolean {
    return this.signals > 0;
  }

  /** A second signal has arrived. */
  get forced(): boolean {
    return this.signals > 1;
  }

  /** The queues to stop, once they exist; a signal that came earlier takes effect now. */
  attach(queues: Queue<unknown>[], logger: Logger): void {
    this.queues = queues;
    this.logger = logger;
    if (this.signals > 0) {
      logger.info("shutting down before the queues started");
      this.graceful();
    }
  }

  readonly onSignal = (signal: NodeJS.Signals): void => {
    this.signals++;
    if (!this.logger) {
      // Still loading the config: the first signal is acted on in attach(), a second one is final.
      if (this.signals > 1) process.exit(EXIT.failure);
      return;
    }
    if (this.signals === 1) {
      this.logger.info("shutting down: no new jobs, waiting for running ones (send the signal again to force)", { signal });
      this.graceful();
    } else if (this.signals === 2) {
      this.logger.warn("forced shutdown: aborting running jobs", { signal });
      void this.force();
    } else {
      process.exit(EXIT.failure);
    }
  };

  /** The parent process (npm) exited without passing its signal on: as the first SIGTERM. */
  readonly onParentExit = (parent: number): void => {
    if (this.signals > 0) return; // already shutting down
    this.logger?.warn("the parent process exited (npm does not pass SIGTERM on): shutting down", { parent });
    this.onSignal("SIGTERM");
  };

  /** Starts a graceful shutdown without a signal (a queue failed to start). */
  begin(): void {
    this.signals = Math.max(this.signals, 1);
    this.graceful();
  }

  private graceful(): void {
    void Promise.allSettled(this.queues.map((queue) => queue.shutdown())).then((results) => {
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      for (const failure of failed) this.logger?.error("shutdown failed", { error: errorMessage(failure.reason) });
      // A forced shutdown (second signal) also ends here once the aborted jobs are rolled back: still exit 1.
      this.resolve(failed.length === 0 && !this.forced ? EXIT.ok : EXIT.failure);
    });
  }

  private async force(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, FORCE_EXIT_MS);
    });
    await Promise.race([Promise.allSettled(this.queues.map((queue) => queue.shutdown({ deadline: 0 }))), timeout]);
    clearTimeout(timer);
    this.resolve(EXIT.failure);
  }
}

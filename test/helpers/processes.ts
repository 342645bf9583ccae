/**
 * Worker processes for multi-process tests: a fixture script run with tsx, which prints "ready"
 * once its pools have started and shuts down gracefully on SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { hostname } from "node:os";

export interface WorkerProcess {
  child: ChildProcess;
  /** Its stdout lines and stderr chunks, as they came. */
  output: string[];
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Its pools' default name (host name and pid), as history records it. */
  pool: string;
}

/** Starts `node --import tsx <script> ...args` and resolves once it prints "ready". */
export function startProcess(script: string, args: string[]): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output.push(...chunk.toString().split("\n").filter(Boolean));
      if (output.includes("ready")) resolve({ child, output, exited, pool: `${hostname()}:${child.pid}` });
    });
    child.stderr!.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    void exited.then((code) => reject(new Error(`${script} exited with ${code} before ready: ${output.join("\n")}`)));
  });
}

/** Sends SIGTERM (unless it has exited) and resolves with the exit code. */
export async function stopProcess(worker: WorkerProcess): Promise<number | null> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGTERM");
  return worker.exited;
}

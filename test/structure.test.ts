// The layout rules of src/ (README, "How it is built"), checked on the import graph: the runtime
// stands on the core, never on the app-facing surface, and no module imports itself round a circle.
// Every relative import counts, type-only ones and `export … from` included: a type-only circle
// still ties two modules together for whoever changes one of them.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, test } from "vitest";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** src-relative path of each module → the src-relative paths it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    // preProcessFile reads import/export declarations the way the compiler does (comments and
    // doc-comment examples are not imports), type-only ones included.
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = importedFiles
      .map((imported) => imported.fileName)
      .filter((name) => name.startsWith("."))
      .map((name) => relative(SRC, resolve(dirname(file), name)));
    graph.set(relative(SRC, file), [...new Set(targets)]);
  }
  return graph;
}

/** Strongly connected components with more than one module (or a module importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const target of graph.get(node) ?? []) {
      if (!index.has(target)) {
        visit(target);
        low.set(node, Math.min(low.get(node)!, low.get(target)!));
      } else if (onStack.has(target)) {
        low.set(node, Math.min(low.get(node)!, index.get(target)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.includes(node)) found.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

/** The imports of the modules under `from` that land in one of `forbidden`, as "a.ts -> b.ts". */
function importsInto(graph: Map<string, string[]>, from: string, forbidden: string[]): string[] {
  const hits = (target: string) => forbidden.some((f) => (f.endsWith("/") ? target.startsWith(f) : target === f));
  return [...graph]
    .filter(([module]) => (from.endsWith("/") ? module.startsWith(from) : module === from))
    .flatMap(([module, targets]) => targets.filter(hits).map((target) => `${module} -> ${target}`));
}

describe("the import graph of src/", () => {
  const graph = importGraph();

  test("is read: every module is there and relative imports resolve to modules", () => {
    expect(graph.size).toBeGreaterThan(50);
    const dangling = [...graph].flatMap(([module, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${module} -> ${t}`));
    expect(dangling).toEqual([]);
    // The checker sees type-only imports (a circle made of them is still a circle).
    expect(graph.get("worker/executor.ts")).toContain("engine.ts");
  });

  test("has no circles", () => {
    expect(cycles(graph)).toEqual([]);
  });

  test("the runtime (worker, cron) stands on the core: it imports nothing of the app-facing surface, the admin, Prisma or the CLI", () => {
    const surface = ["client.ts", "queue.ts", "admin/", "prisma/", "cli/"];
    expect(importsInto(graph, "worker/", surface)).toEqual([]);
    expect(importsInto(graph, "cron/", surface)).toEqual([]);
  });

  test("job values know nothing of the runtime", () => {
    expect(importsInto(graph, "job.ts", ["worker/"])).toEqual([]);
  });

  test("the admin UI's routes and its app share a context module rather than importing each other", () => {
    expect(importsInto(graph, "admin/ui/routes/", ["admin/ui/app.ts"])).toEqual([]);
  });
});

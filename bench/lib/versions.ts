/** Installed version of a package of bench/node_modules (some do not export their package.json). */
import { readFileSync } from "node:fs";

export function packageVersion(name: string): string {
  const file = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

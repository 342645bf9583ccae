/**
 * Forgetting the `Register` augmentation must not leave handlers with an `unknown` `tx` and a
 * message that says nothing: the compiler's own message has to name the fix. Compiles
 * test/types/unregistered/handler.ts on its own (no augmentation in that program) with the
 * repository's compiler options and reads the diagnostics.
 */
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const fixture = fileURLToPath(new URL("./unregistered/handler.ts", import.meta.url));

function diagnosticsOf(file: string): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(`${repo}/tsconfig.json`, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (!config) throw new Error("cannot read tsconfig.json");
  const program = ts.createProgram([file], { ...config.options, noEmit: true });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === file)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

describe("a handler's tx without the Register augmentation", { timeout: 60_000 }, () => {
  it("is a compile error whose message names the fix (declare module … Register, README Install)", () => {
    const messages = diagnosticsOf(fixture);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/Property 'user' does not exist on type 'RegisterYourPrismaClient_SeeReadmeInstall'/);
  });
});

/**
 * The rule events/api.ts states: a module-level value of events/ that runs code when the module
 * loads (a zod schema, or anything else built by a call) is built inside a
 * `/* @__PURE__ *\/ (() => …)()`, so that esbuild drops it from a bundle that never reads it.
 * One unannotated schema is enough to keep its dependencies in every Lambda bundle that imports
 * the module, built at each cold start.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const PURE_IIFE = /^\/\* @__PURE__ \*\/ \(\(\) =>[\s\S]*\)\(\)$/;

/** Whether evaluating `node` calls something (the bodies of functions it defines are not evaluated). */
function calls(node: ts.Node): boolean {
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return false;
  if (ts.isCallExpression(node) || ts.isTaggedTemplateExpression(node)) return true;
  return ts.forEachChild(node, calls) ?? false;
}

/** `file:line name` of each module-level declaration whose initializer calls something outside a PURE IIFE. */
function unannotated(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  for (const st of sf.statements) {
    if (!ts.isVariableStatement(st)) continue;
    for (const d of st.declarationList.declarations) {
      if (!d.initializer || !calls(d.initializer)) continue;
      // the annotation is a comment before the initializer: read it from the full text
      if (PURE_IIFE.test(d.initializer.getFullText(sf).trim())) continue;
      out.push(`${file}:${sf.getLineAndCharacterOfPosition(d.getStart(sf)).line + 1} ${d.name.getText(sf)}`);
    }
  }
  return out;
}

describe("events/: module-level schemas are built in PURE IIFEs", () => {
  const dir = __dirname;
  const modules = readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));

  it("every module-level value built by a call is annotated, in every module of events/", () => {
    expect(modules).toContain("api.ts");
    expect(modules.flatMap((f) => unannotated(f, readFileSync(join(dir, f), "utf8")))).toEqual([]);
  });

  it("the check sees a bare schema, a chained one and one inside an object, and passes an annotated one or a function", () => {
    const text = [
      `export const A = z.string();`,
      `export const B = /* @__PURE__ */ (() => z.object({ a: A }).strict())();`,
      `const C = { next: B.optional() };`,
      `export const D = (n: number) => z.number().max(n);`,
      `export const E = 5;`,
      `export const F = A;`,
    ].join("\n");
    expect(unannotated("x.ts", text)).toEqual(["x.ts:1 A", "x.ts:3 C"]);
  });
});

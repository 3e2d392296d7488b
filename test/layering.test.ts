// The layering rule of docs/ARCHITECTURE.md, checked on every import of src/ (static and dynamic):
// each folder imports only the folders below it. The table here is the one in ARCHITECTURE.md.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

// Top to bottom. A folder may import its own files and any folder listed after it; eval and export
// sit side by side (neither imports the other). src/portable imports nothing and anyone may import it.
const ORDER: string[][] = [["index"], ["cli"], ["eval", "export"], ["distill", "latent"], ["diffusion"], ["io"], ["nn"], ["engine"]];

const srcDir = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

function layerOf(file: string): string {
  const rel = relative(srcDir, file);
  return rel.includes("/") ? rel.split("/")[0] : "index";
}

function rank(layer: string): number {
  return ORDER.findIndex((row) => row.includes(layer));
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Every relative import of a file: `from "./x.js"`, `import("../y.js")`, `export ... from`. */
function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found = [...text.matchAll(/(?:from\s+|import\(\s*)["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]);
  return found.map((spec) => resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
}

/** Whether `from` may import `to` under the rule above. */
function allowed(from: string, to: string): boolean {
  if (to === "portable") return true;
  if (from === "portable") return false;
  if (from === to) return true;
  const [a, b] = [rank(from), rank(to)];
  return a >= 0 && b >= 0 && b > a;
}

test("layering: every import in src/ points down the layer order of docs/ARCHITECTURE.md", () => {
  const files = sources(srcDir);
  assert.ok(files.length > 50, `found only ${files.length} source files under ${srcDir}`);
  const layers = new Set(files.map(layerOf));
  for (const layer of layers) assert.ok(layer === "portable" || rank(layer) >= 0, `src/${layer} is in no layer of the table: add it to ARCHITECTURE.md and this test`);
  assert.ok(files.reduce((n, f) => n + imports(f).length, 0) > 300, "the import scanner found too few imports: is its pattern stale?");
  const violations = files.flatMap((file) =>
    imports(file)
      .filter((target) => !allowed(layerOf(file), layerOf(target)))
      .map((target) => `${relative(srcDir, file)} imports ${relative(srcDir, target)} (${layerOf(file)} -> ${layerOf(target)})`),
  );
  assert.deepEqual(violations, []);
});

test("layering: the rule itself rejects an upward import and a sideways one", () => {
  assert.equal(allowed("nn", "diffusion"), false);
  assert.equal(allowed("distill", "eval"), false);
  assert.equal(allowed("eval", "export"), false);
  assert.equal(allowed("portable", "engine"), false);
  assert.equal(allowed("cli", "engine"), true);
  assert.equal(allowed("io", "nn"), true);
});

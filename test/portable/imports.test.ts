// The portable layer's rule (docs/ARCHITECTURE.md): src/portable imports only its own files, so it
// bundles for the browser and never loads libtorch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

test("src/portable imports nothing outside src/portable", () => {
  const dir = fileURLToPath(new URL("../../../src/portable/", import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts"));
  assert.ok(files.length >= 8, `found ${files.length} files in ${dir}`);
  for (const file of files) {
    const source = readFileSync(dir + file, "utf8");
    const specifiers = [...source.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s+"([^"]+)"/g), ...source.matchAll(/import\(\s*"([^"]+)"\s*\)/g)].map((m) => m[1]);
    for (const spec of specifiers) assert.match(spec, /^\.\/[a-z-]+\.js$/, `${file} imports ${spec}`);
  }
});

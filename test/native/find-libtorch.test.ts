// scripts/find-libtorch.mjs: the order LIBTORCH -> Python with torch -> system, and one clear
// error that names the three ways when nothing is found.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../../../scripts/find-libtorch.mjs", import.meta.url));

function run(env: Record<string, string | undefined>, field = "json") {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) clean[k] = v;
  return spawnSync(process.execPath, [script, field], { env: clean, encoding: "utf8" });
}

test("LIBTORCH wins over everything else and gives include, lib and ABI", () => {
  const root = mkdtempSync(join(tmpdir(), "fewstep-libtorch-"));
  try {
    mkdirSync(join(root, "include", "ATen"), { recursive: true });
    writeFileSync(join(root, "include", "ATen", "ATen.h"), "");
    mkdirSync(join(root, "lib"));
    mkdirSync(join(root, "share", "cmake", "Torch"), { recursive: true });
    writeFileSync(join(root, "share", "cmake", "Torch", "TorchConfig.cmake"), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")');
    const out = run({ LIBTORCH: root });
    assert.equal(out.status, 0, out.stderr);
    const found = JSON.parse(out.stdout) as { source: string; include: string; lib: string; abi: number; cuda: boolean };
    assert.equal(found.source, "LIBTORCH");
    assert.equal(found.include, join(root, "include"));
    assert.equal(found.lib, join(root, "lib"));
    assert.equal(found.abi, 0);
    assert.equal(found.cuda, false);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a LIBTORCH without headers is an error that says what is missing", () => {
  const out = run({ LIBTORCH: "/nonexistent/libtorch" });
  assert.equal(out.status, 1);
  assert.match(out.stderr, /LIBTORCH\/LIBTORCH_INCLUDE is set but \/nonexistent\/libtorch\/include\/ATen\/ATen\.h does not exist/);
});

test("on this machine a libtorch is found (Python torch or Debian's libtorch-dev)", () => {
  const out = run({ LIBTORCH: undefined, LIBTORCH_INCLUDE: undefined, LIBTORCH_LIB: undefined });
  assert.equal(out.status, 0, out.stderr);
  assert.match(JSON.parse(out.stdout).source as string, /^(python|system)/);
  assert.equal(run({}, "bogus").status, 1);
});

test("nothing found: one error naming the three ways", () => {
  const out = run({ LIBTORCH: undefined, LIBTORCH_INCLUDE: undefined, LIBTORCH_LIB: undefined, LIBTORCH_PYTHON: "/nonexistent/python3", LIBTORCH_SYSTEM_PREFIX: "/nonexistent" });
  assert.equal(out.status, 1);
  assert.match(out.stderr, /no libtorch found\. Give one of: \(1\) LIBTORCH=.*\(2\) a Python with PyTorch.*\(3\) Debian's package: `apt-get install libtorch-dev libopenblas0-pthread`/);
});

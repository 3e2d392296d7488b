// The package's public face: `import ... from "fewstep"` and "fewstep/portable" resolve (package.json
// exports), export the same objects as the modules, and the portable entry loads no engine.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { Generator, full, randn, tidy } from "../src/engine/index.js";
import { loadMixture } from "../src/diffusion/mixture.js";
import { sampleGuided } from "../src/diffusion/sample.js";

test("index: 'fewstep' resolves to src/index and its exports are the modules' own", async () => {
  const api = await import("fewstep");
  assert.equal(api.sampleGuided, sampleGuided);
  assert.equal(api.loadMixture, loadMixture);
  for (const name of ["runStageOne", "runStageTwo", "trainTeacher", "denoiserOf", "guided", "exportCheckpointToOnnx", "evaluateModel", "MODEL_REGISTRY", "Tensor"]) {
    assert.ok(name in api, `fewstep does not export ${name}`);
  }
  // a guided sample through the public API is a real computation: the exact teacher's DDIM
  const mixture = api.loadMixture("ring2d");
  try {
    const x = tidy(() => {
      const z = randn([4, 2], new Generator(0), { dtype: "float64" });
      return api.sampleGuided(mixture, z, { sampler: "ddim", steps: 8, w: 1, cond: { labels: full([4], 0, { dtype: "int64" }) } });
    });
    assert.deepEqual(x.shape, [4, 2]);
    assert.ok(x.toNumbers().every(Number.isFinite));
    x.dispose();
  } finally {
    mixture.dispose();
  }
});

test("index: 'fewstep/portable' loads without the native addon", () => {
  // process.dlopen is how Node loads any .node addon: count its calls while importing the entry
  const script = `let loads = 0; const dlopen = process.dlopen; process.dlopen = (...a) => { loads++; return dlopen(...a); };
    import("fewstep/portable").then((p) => process.exit(typeof p.sampleDdim !== "function" ? 2 : loads > 0 ? 3 : 0));`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  // and the check can fail: the full entry does load the addon
  const full = spawnSync(process.execPath, ["--input-type=module", "-e", script.replace('"fewstep/portable"', '"fewstep"')], { encoding: "utf8" });
  assert.equal(full.status, 3, full.stderr);
});

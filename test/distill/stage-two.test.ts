// Stage two's target against its defining property: one DDIM step of the student from t with
// x-hat = x~ lands exactly where two DDIM steps of the teacher land (z_t''); on the last step the
// target is the teacher's x-hat at t'. The teacher here is the exact guided mixture teacher,
// taking w per example as a stage-one student does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Generator, full, randn, tensor, tidy, type Tensor } from "../../src/engine/index.js";
import type { Denoiser } from "../../src/diffusion/denoiser.js";
import { guided } from "../../src/diffusion/guidance.js";
import { loadMixture } from "../../src/diffusion/mixture.js";
import { ddimStep } from "../../src/diffusion/samplers/ddim.js";
import { stageTwoTarget } from "../../src/distill/stage-two.js";
import { assertClose } from "../helpers/assert-close.js";

const mixture = loadMixture("ring2d");
const wTeacher: Denoiser = (z, t, cond) => guided(mixture, cond.w as Tensor)(z, t, cond);

test("one student DDIM step with x~ reproduces the teacher's two steps", () =>
  tidy(() => {
    const steps = 4;
    const g = new Generator(3);
    const n = 6;
    const z = randn([n, 2], g, { dtype: "float64" });
    const t = tensor(new Float64Array([1, 0.75, 0.5, 0.25, 0.5, 1]));
    const cond = { labels: tensor([0, 1, 2, 0, 1, 2], { dtype: "int64" }), w: tensor(new Float64Array([0, 1, 2, 4, 0.5, 3])) };
    const target = stageTwoTarget(wTeacher, z, t, steps, cond);
    // the teacher's two DDIM steps, one example at a time with scalar times
    for (let i = 0; i < n; i++) {
      const ti = t.toNumbers()[i];
      const [t1, t2] = [ti - 1 / (2 * steps), ti - 1 / steps];
      const row = (v: Tensor) => v.narrow(0, i, 1);
      const c = { labels: row(cond.labels), w: row(cond.w) };
      const z1 = ddimStep(row(z), wTeacher(row(z), full([1], ti, { dtype: "float64" }), c), ti, t1);
      const x1 = wTeacher(z1, full([1], t1, { dtype: "float64" }), c);
      const z2 = ddimStep(z1, x1, t1, t2);
      if (t2 === 0) {
        // last step: the target is the teacher's x-hat at t'
        assertClose(row(target).toNumbers(), x1.toNumbers(), { atol: 1e-12 });
      } else {
        assertClose(ddimStep(row(z), row(target), ti, t2).toNumbers(), z2.toNumbers(), { atol: 1e-9, what: `example ${i}` });
      }
    }
    assert.equal(target.dtype, "float64");
  }));

// Class fidelity of a teacher and its students: the shipped classifier's accuracy on 200 samples
// (20 per class, the same noise for every model) per sampler, N and w (docs/RESULTS.md).
//   node scripts/class-fidelity.mjs TEACHER STUDENT_DIR [--students-only]   (after npm run build)
import { Generator, noGrad, randn, tensor, tidy } from "../dist/src/engine/index.js";
import { sampleGuided } from "../dist/src/diffusion/sample.js";
import { classifierAccuracy } from "../dist/src/eval/train-classifier.js";
import { loadClassifier } from "../dist/src/io/load-classifier.js";
import { loadModel } from "../dist/src/io/load-model.js";
const [teacherPath, dir] = process.argv.slice(2);
if (!teacherPath || !dir) throw new Error("usage: node scripts/class-fidelity.mjs TEACHER.safetensors STUDENT_DIR");
const classifier = loadClassifier(new URL("../models/fashion-mnist/classifier.safetensors", import.meta.url).pathname);
const rows = [...(process.argv.includes("--students-only") ? [] : [["teacher", teacherPath, [8, 32], "teacher"]]), ...[1, 2, 4, 8].map((n) => [`N${n}`, `${dir}/student-N${n}.safetensors`, [n], "input"])];
for (const [name, path, stepsList, guidance] of rows) {
  const model = loadModel(path);
  for (const steps of stepsList) for (const w of [0, 1, 2, 4]) for (const sampler of guidance === "input" ? ["ddim", "stochastic"] : ["ddim"]) {
    const acc = tidy(() => noGrad(() => {
      const labels = tensor(BigInt64Array.from({ length: 200 }, (_, i) => BigInt(i % 10)));
      const z = randn([200, 1, 28, 28], new Generator(123));
      const x = sampleGuided(model.denoiser, z, { sampler, steps, w, guidance, nullLabel: 10, labels, clip: [-1, 1] });
      return classifierAccuracy(classifier, x, labels);
    }));
    console.log(`${name} ${sampler} N=${steps} w=${w}: ${(acc.accuracy * 100).toFixed(1)}%`);
  }
  model.dispose();
}

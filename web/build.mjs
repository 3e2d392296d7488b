// Builds the browser demo into web/dist: (1) the four Fashion-MNIST students as ONNX files,
// web/public/models/student-N{1,2,4,8}.onnx, made by `fewstep export` from
// models/fashion-mnist/student-N*.safetensors; (2) the page, bundled by Vite; (3) onnxruntime-web's
// wasm files copied into dist/ort/, so the page needs no CDN and works offline; (4) the shipped
// latent students (models/fashion-mnist-latent/student-N{1,4}) with their decoder, shown at
// ?model=models/latent-student-N4.onnx.
// Any missing piece fails the build with a message saying what to do; nothing is skipped.
//   node web/build.mjs                                   (npm run build:web)
//   node web/build.mjs --models-from 'DIR/student-N{N}.onnx'   use already exported models
//   node web/build.mjs --add-model DIR/s.onnx            also ship s.onnx (and s.decoder.onnx beside
//                                                        it, a latent model's) as models/s.onnx: the
//                                                        page shows it at ?model=models/s.onnx
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = dirname(fileURLToPath(import.meta.url));
const root = dirname(web);
const STEPS = [1, 2, 4, 8];
const modelsDir = join(web, "public", "models");
const dist = join(web, "dist");

function fail(message) {
  console.error(`build:web: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { addModels: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--models-from" && argv[i + 1]) args.modelsFrom = argv[++i];
    else if (argv[i] === "--add-model" && argv[i + 1]) args.addModels.push(argv[++i]);
    else fail(`unknown argument ${argv[i]}; usage: node web/build.mjs [--models-from 'DIR/student-N{N}.onnx'] [--add-model FILE.onnx ...]`);
  }
  return args;
}

/** An exported model and, when `fewstep export` wrote one beside it, its decoder (NAME.decoder.onnx). */
function addModel(path) {
  if (!path.endsWith(".onnx") || !existsSync(path)) fail(`--add-model ${path}: no such .onnx file (make it with \`fewstep export --model CKPT --out ${path}\`)`);
  const decoder = path.replace(/\.onnx$/, ".decoder.onnx");
  for (const file of existsSync(decoder) ? [path, decoder] : [path]) {
    copyFileSync(file, join(modelsDir, basename(file)));
    console.log(`build:web: copied ${file}`);
  }
  console.log(`build:web: the page shows it at ?model=models/${basename(path)}`);
}

function exportModels() {
  for (const n of STEPS) {
    const checkpoint = join(root, "models", "fashion-mnist", `student-N${n}.safetensors`);
    const out = join(modelsDir, `student-N${n}.onnx`);
    if (!existsSync(checkpoint)) fail(`${checkpoint} is missing: the shipped Fashion-MNIST students come with the repository (models/fashion-mnist)`);
    const run = spawnSync(process.execPath, [join(root, "bin", "fewstep.js"), "export", "--model", checkpoint, "--out", out, "--class-names", "fashion-mnist"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (run.status !== 0) {
      const why = (run.stderr || run.stdout).trim();
      const hint = /unknown command 'export'/.test(why)
        ? "this fewstep has no `fewstep export` command yet; to build the page from models exported elsewhere: node web/build.mjs --models-from 'DIR/student-N{N}.onnx'"
        : "fix the export, or pass already exported models with --models-from 'DIR/student-N{N}.onnx'";
      fail(`\`fewstep export --model ${checkpoint} --out ${out}\` failed:\n  ${why}\n${hint}`);
    }
    if (!existsSync(out)) fail(`\`fewstep export\` reported success but wrote no ${out}`);
    console.log(`build:web: exported ${out} (${statSync(out).size} bytes)`);
  }
}

/** The shipped latent students, each with the decoder fewstep export writes beside it. */
function exportLatentModels() {
  for (const n of [1, 4]) {
    const checkpoint = join(root, "models", "fashion-mnist-latent", `student-N${n}.safetensors`);
    if (!existsSync(checkpoint)) fail(`${checkpoint} is missing: the shipped latent students come with the repository (models/fashion-mnist-latent)`);
    const out = join(modelsDir, `latent-student-N${n}.onnx`);
    const run = spawnSync(process.execPath, [join(root, "bin", "fewstep.js"), "export", "--model", checkpoint, "--out", out, "--class-names", "fashion-mnist"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (run.status !== 0) fail(`\`fewstep export --model ${checkpoint} --out ${out}\` failed:\n  ${(run.stderr || run.stdout).trim()}`);
    for (const f of [out, out.replace(/\.onnx$/, ".decoder.onnx")]) if (!existsSync(f)) fail(`\`fewstep export\` reported success but wrote no ${f}`);
    console.log(`build:web: exported ${out} and its decoder; the page shows it at ?model=models/${basename(out)}`);
  }
}

function copyModels(pattern) {
  if (!pattern.includes("{N}")) fail(`--models-from ${pattern}: the pattern needs {N} where the step count goes, e.g. 'out/student-N{N}.onnx'`);
  for (const n of STEPS) {
    const from = pattern.replaceAll("{N}", String(n));
    if (!existsSync(from)) fail(`--models-from: ${from} does not exist (the page needs a model for each of ${STEPS.join(", ")} steps)`);
    copyFileSync(from, join(modelsDir, `student-N${n}.onnx`));
    console.log(`build:web: copied ${from}`);
  }
}

const args = parseArgs(process.argv.slice(2));
rmSync(modelsDir, { recursive: true, force: true });
mkdirSync(modelsDir, { recursive: true });
if (args.modelsFrom) copyModels(args.modelsFrom);
else exportModels();
if (!args.modelsFrom) exportLatentModels();
for (const path of args.addModels) addModel(path);

const { build } = await import("vite");
await build({ configFile: join(web, "vite.config.mjs") });

// onnxruntime-web's default bundle (WebGPU through JSEP, and wasm) loads these two files from
// ort.env.wasm.wasmPaths, which the page sets to ./ort/
const ortDist = join(root, "node_modules", "onnxruntime-web", "dist");
const ortFiles = readdirSync(ortDist).filter((f) => /^ort-wasm-simd-threaded\.jsep\.(wasm|mjs)$/.test(f));
if (ortFiles.length !== 2) fail(`expected ort-wasm-simd-threaded.jsep.wasm and .mjs in ${ortDist}, found ${ortFiles.join(", ") || "none"}: reinstall onnxruntime-web`);
mkdirSync(join(dist, "ort"), { recursive: true });
for (const f of ortFiles) copyFileSync(join(ortDist, f), join(dist, "ort", f));
// Vite may also have emitted the wasm as an asset of the bundle; the page never fetches that copy
for (const f of readdirSync(join(dist, "assets"))) if (f.endsWith(".wasm")) rmSync(join(dist, "assets", f));
console.log(`build:web: wrote ${dist} (serve it with \`fewstep serve\`)`);

// The browser demo: a distilled Fashion-MNIST student (one ONNX file per step count, N = 1, 2, 4, 8)
// on onnxruntime-web, sampled with fewstep's portable samplers (src/portable: no libtorch).
// WebGPU when the browser offers an adapter, wasm otherwise; the wasm files are served from ./ort/
// of this build, so the page works offline. For tests and benchmarks it exposes window.fewstep
// (sample on demand, with timing) and window.fewstepLastSample (the last sample drawn on the page).
import * as ort from "onnxruntime-web";
import { type FewstepOnnxModel, type PortableSamplerName, openFewstepOnnx } from "../src/portable/index.js";

const GRID = 4; // a GRID x GRID grid of samples of the chosen class
const STEPS = [1, 2, 4, 8] as const;
const modelUrl = (steps: number) => new URL(`models/student-N${steps}.onnx`, document.baseURI).href;

ort.env.wasm.wasmPaths = new URL("ort/", document.baseURI).href;
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

export interface SampleSettings {
  classIndex: number;
  w: number;
  steps: number;
  seed: number;
  sampler: PortableSamplerName;
  /** samples in the batch @default GRID * GRID */
  n?: number;
}
export interface SampleResult extends Required<SampleSettings> {
  /** [n, 1, 28, 28] flattened, in [-1, 1] */
  data: number[];
  exampleShape: number[];
  /** wall time of the whole batch (all model calls and sampler arithmetic), ms */
  ms: number;
  backend: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  classSelect: $<HTMLSelectElement>("class"),
  w: $<HTMLInputElement>("w"),
  wValue: $<HTMLOutputElement>("w-value"),
  steps: $<HTMLSelectElement>("steps"),
  sampler: $<HTMLSelectElement>("sampler"),
  seed: $<HTMLInputElement>("seed"),
  canvas: $<HTMLCanvasElement>("grid"),
  status: $<HTMLParagraphElement>("status"),
};

let backend = "wasm";
const models = new Map<number, Promise<FewstepOnnxModel>>();

async function chooseBackend(): Promise<string> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  try {
    if (gpu && (await gpu.requestAdapter())) return "webgpu";
  } catch {
    // no adapter: wasm
  }
  return "wasm";
}

function loadModel(steps: number): Promise<FewstepOnnxModel> {
  let model = models.get(steps);
  if (!model) {
    model = (async () => {
      const url = modelUrl(steps);
      const response = await fetch(url);
      if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
      const bytes = new Uint8Array(await response.arrayBuffer());
      return openFewstepOnnx(ort, bytes, { source: `student-N${steps}.onnx`, sessionOptions: { executionProviders: [backend] } });
    })();
    models.set(steps, model);
    model.catch(() => models.delete(steps));
  }
  return model;
}

/** Samples a batch with the given settings; does not touch the page. */
async function sample(settings: SampleSettings): Promise<SampleResult> {
  const model = await loadModel(settings.steps);
  const n = settings.n ?? GRID * GRID;
  const start = performance.now();
  const x = await model.sample({
    sampler: settings.sampler,
    steps: settings.steps,
    w: settings.w,
    labels: new Int32Array(n).fill(settings.classIndex),
    seed: settings.seed,
    clip: [-1, 1],
  });
  const ms = performance.now() - start;
  return { ...settings, n, data: Array.from(x), exampleShape: model.metadata.exampleShape, ms, backend };
}

function draw(result: SampleResult): void {
  const [channels, h, w] = result.exampleShape;
  const columns = Math.ceil(Math.sqrt(result.n));
  const rows = Math.ceil(result.n / columns);
  ui.canvas.width = columns * w;
  ui.canvas.height = rows * h;
  const image = new ImageData(columns * w, rows * h);
  const size = channels * h * w;
  for (let k = 0; k < result.n; k++) {
    const [gx, gy] = [(k % columns) * w, Math.floor(k / columns) * h];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const p = ((gy + y) * columns * w + gx + x) * 4;
        for (let c = 0; c < 3; c++) {
          const v = result.data[k * size + (channels === 3 ? c : 0) * h * w + y * w + x];
          image.data[p + c] = Math.round(((v + 1) / 2) * 255);
        }
        image.data[p + 3] = 255;
      }
    }
  }
  ui.canvas.getContext("2d")!.putImageData(image, 0, 0);
}

function currentSettings(): SampleSettings {
  return {
    classIndex: Number(ui.classSelect.value),
    w: Number(ui.w.value),
    steps: Number(ui.steps.value),
    seed: Math.max(0, Math.min(4294967295, Math.floor(Number(ui.seed.value) || 0))),
    sampler: ui.sampler.value as PortableSamplerName,
  };
}

// One sample at a time; input that arrives meanwhile replaces the queued request.
let running = false;
let queued = false;
async function refresh(): Promise<void> {
  ui.wValue.value = Number(ui.w.value).toFixed(2);
  if (running) {
    queued = true;
    return;
  }
  running = true;
  try {
    do {
      queued = false;
      const result = await sample(currentSettings());
      draw(result);
      window.fewstepLastSample = result;
      ui.status.className = "";
      ui.status.textContent = `${(result.ms / result.n).toFixed(2)} ms per sample (${result.n} in ${result.ms.toFixed(1)} ms, ${result.steps} step${result.steps > 1 ? "s" : ""}, ${result.backend})`;
    } while (queued);
  } catch (error) {
    ui.status.className = "error";
    ui.status.textContent = `error: ${(error as Error).message}`;
    throw error;
  } finally {
    running = false;
  }
}

async function start(): Promise<void> {
  backend = await chooseBackend();
  const first = await loadModel(Number(ui.steps.value));
  const { numClasses, classNames } = first.metadata;
  for (let c = 0; c < numClasses; c++) ui.classSelect.add(new Option(classNames?.[c] ?? `class ${c}`, String(c)));
  for (const element of [ui.classSelect, ui.w, ui.steps, ui.sampler, ui.seed]) element.addEventListener("input", () => void refresh().catch(() => {}));
  await refresh();
}

declare global {
  interface Window {
    fewstep: { ready: Promise<void>; sample: typeof sample; steps: readonly number[] };
    fewstepLastSample?: SampleResult;
  }
}
const ready = start();
window.fewstep = { ready, sample, steps: STEPS };
ready.catch((error: Error) => {
  ui.status.className = "error";
  ui.status.textContent = `error: ${error.message}`;
});

// The browser demo: a distilled Fashion-MNIST student (one ONNX file per step count, N = 1, 2, 4, 8)
// on onnxruntime-web, sampled with fewstep's portable samplers (src/portable: no libtorch).
// `?model=URL` shows one exported model instead (any `fewstep export` file); a latent model's
// samples are decoded by the decoder its metadata names, fetched from beside it, and the page
// draws the decoded images.
// WebGPU when the browser offers an adapter, wasm otherwise; the wasm files are served from ./ort/
// of this build, so the page works offline. For tests and benchmarks it exposes window.fewstep
// (sample on demand, with timing) and window.fewstepLastSample (the last sample drawn on the page).
import * as ort from "onnxruntime-web";
import { type FewstepOnnxDecoder, type FewstepOnnxModel, type PortableSamplerName, openFewstepDecoder, openFewstepOnnx } from "../src/portable/index.js";

const GRID = 4; // a GRID x GRID grid of samples of the chosen class
const STEPS = [1, 2, 4, 8] as const;
const customModel = new URLSearchParams(location.search).get("model");
const modelUrl = (steps: number) => new URL(customModel ?? `models/student-N${steps}.onnx`, document.baseURI).href;

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
  /** the images drawn, [n, ...exampleShape] flattened, in [-1, 1] (a latent model's: decoded, then clamped) */
  data: number[];
  /** shape of one image drawn, [C, H, W] */
  exampleShape: number[];
  /** a latent model's samples before decoding, [n, ...latentShape] flattened */
  latents?: number[];
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
/** A model and, for a latent model, its decoder. */
interface Loaded {
  model: FewstepOnnxModel;
  decoder: FewstepOnnxDecoder | null;
}
const models = new Map<number, Promise<Loaded>>();

async function chooseBackend(): Promise<string> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  try {
    if (gpu && (await gpu.requestAdapter())) return "webgpu";
  } catch {
    // no adapter: wasm
  }
  return "wasm";
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function loadModel(steps: number): Promise<Loaded> {
  // a ?model= page has one model, whatever the steps
  const key = customModel ? 0 : steps;
  let loaded = models.get(key);
  if (!loaded) {
    loaded = (async () => {
      const url = modelUrl(steps);
      const sessionOptions = { executionProviders: [backend] };
      const source = url.split("/").pop()!;
      const model = await openFewstepOnnx(ort, await fetchBytes(url), { source, sessionOptions });
      const latent = model.metadata.latent;
      if (!latent) return { model, decoder: null };
      if (latent.decoder === null) throw new Error(`${source} is a latent model exported without its decoder; export it with \`fewstep export --model\``);
      const decoderUrl = new URL(latent.decoder, url).href;
      const decoder = await openFewstepDecoder(ort, await fetchBytes(decoderUrl), { source: latent.decoder, sessionOptions, forModel: { metadata: model.metadata, source } });
      return { model, decoder };
    })();
    models.set(key, loaded);
    loaded.catch(() => models.delete(key));
  }
  return loaded;
}

/** Samples a batch with the given settings; does not touch the page. */
async function sample(settings: SampleSettings): Promise<SampleResult> {
  const { model, decoder } = await loadModel(settings.steps);
  const n = settings.n ?? GRID * GRID;
  const start = performance.now();
  const x = await model.sample({
    sampler: settings.sampler,
    steps: settings.steps,
    w: settings.w,
    labels: new Int32Array(n).fill(settings.classIndex),
    seed: settings.seed,
    // pixels are clipped to the image range; latents are not images, their decoding is clamped below
    clip: decoder ? undefined : [-1, 1],
  });
  if (!decoder) return { ...settings, n, data: Array.from(x), exampleShape: model.metadata.exampleShape, ms: performance.now() - start, backend };
  const images = (await decoder.decode(x)).map((v) => Math.min(1, Math.max(-1, v)));
  const ms = performance.now() - start;
  return { ...settings, n, data: Array.from(images), exampleShape: decoder.imageShape, latents: Array.from(x), ms, backend };
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
      ui.status.textContent = `${(result.ms / result.n).toFixed(2)} ms per sample (${result.n} in ${result.ms.toFixed(1)} ms, ${result.steps} step${result.steps > 1 ? "s" : ""}${result.latents ? ", latent, decoded" : ""}, ${result.backend})`;
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
  const first = (await loadModel(Number(ui.steps.value))).model;
  const { numClasses, classNames, steps, wRange, wMax } = first.metadata;
  if (customModel) {
    // one model: a student offers only its own N, and the slider only its w range
    if (steps !== null) ui.steps.replaceChildren(new Option(String(steps), String(steps), true, true));
    const [lo, hi] = wRange ?? [0, wMax ?? 4];
    Object.assign(ui.w, { min: String(lo), max: String(hi), value: String(Math.min(hi, Math.max(lo, Number(ui.w.value)))) });
    document.querySelector("p.lead")!.textContent = `${first.source}${first.metadata.latent ? ` (latent; decoded by ${first.metadata.latent.decoder})` : ""}, running on ONNX Runtime Web in this page.`;
  }
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

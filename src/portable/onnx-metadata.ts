// Reads the `fewstep` entry of an ONNX model's metadata_props and checks it against the contract
// of `fewstep export` (format "fewstep-onnx/1"). ONNX Runtime's JavaScript API does not expose
// custom metadata, so the ModelProto's top level is read here: a protobuf message whose field 14
// is `repeated StringStringEntryProto metadata_props` (key = 1, value = 2); every other field is
// skipped by its wire type, so the graph and its weights are never decoded.

/** The contract's JSON under metadata_props key "fewstep". */
export interface FewstepOnnxMetadata {
  format: "fewstep-onnx/1";
  /** What was exported: "mlp-denoiser" or "unet" (informational). */
  kind: string;
  /** Shape of one example: [D] (vectors) or [C, H, W] (images). */
  exampleShape: number[];
  /** Number of classes; label numClasses is the null class. */
  numClasses: number;
  classNames?: string[];
  /** true: the model has a `w` input (a distilled student); false: guidance takes two predictions. */
  wInput: boolean;
  /** Largest w the model was distilled for (w-input models); null when unbounded. */
  wMax: number | null;
  /** The parameterization it was trained in; the ONNX output is always x-hat. */
  prediction: string;
  schedule: { type: "cosine-logsnr"; lambdaMin: number; lambdaMax: number };
  /** Steps a stage-two student was distilled for; null for any step count. */
  steps: number | null;
  /** The checkpoint it came from. */
  source: string;
  /** Which weights were exported: the EMA averages or the trained parameters. */
  weights?: "ema" | "params";
  /** The w range a distilled student was trained on; null for other models. */
  wRange?: [number, number] | null;
}

export const FEWSTEP_ONNX_FORMAT = "fewstep-onnx/1";

/** A model file that is not a fewstep ONNX export, or whose metadata breaks the contract. */
export class OnnxMetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OnnxMetadataError";
  }
}

/** All metadata_props of an ONNX model as a key -> value map. */
export function readOnnxMetadataProps(bytes: Uint8Array): Map<string, string> {
  const props = new Map<string, string>();
  const reader = new ProtoReader(bytes);
  while (!reader.done()) {
    const [field, wire] = reader.tag();
    if (field === 14 && wire === 2) {
      const entry = new ProtoReader(reader.bytes());
      let key = "";
      let value = "";
      while (!entry.done()) {
        const [f, w] = entry.tag();
        if (f === 1 && w === 2) key = entry.string();
        else if (f === 2 && w === 2) value = entry.string();
        else entry.skip(w);
      }
      props.set(key, value);
    } else {
      reader.skip(wire);
    }
  }
  return props;
}

/** The checked `fewstep` metadata of an exported model; `source` names the file in errors. */
export function readFewstepMetadata(bytes: Uint8Array, source = "model"): FewstepOnnxMetadata {
  let props: Map<string, string>;
  try {
    props = readOnnxMetadataProps(bytes);
  } catch (error) {
    throw new OnnxMetadataError(`${source}: not an ONNX model (${(error as Error).message})`);
  }
  const text = props.get("fewstep");
  if (text === undefined) throw new OnnxMetadataError(`${source}: no "fewstep" metadata; export the model with \`fewstep export\``);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OnnxMetadataError(`${source}: the "fewstep" metadata is not JSON (${(error as Error).message})`);
  }
  return validateFewstepMetadata(json, source);
}

/** Checks the contract field by field; the message names the first bad field. */
export function validateFewstepMetadata(json: unknown, source = "model"): FewstepOnnxMetadata {
  const fail = (field: string, problem: string): never => {
    throw new OnnxMetadataError(`${source}: fewstep metadata ${field} ${problem}`);
  };
  if (typeof json !== "object" || json === null) fail("(root)", "must be an object");
  const m = json as Record<string, unknown>;
  if (m.format !== FEWSTEP_ONNX_FORMAT) fail("format", `is ${JSON.stringify(m.format)}; this fewstep reads "${FEWSTEP_ONNX_FORMAT}"`);
  if (typeof m.kind !== "string") fail("kind", "must be a string");
  const shape = m.exampleShape;
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) fail("exampleShape", "must be a non-empty array of positive integers");
  if (!Number.isInteger(m.numClasses) || (m.numClasses as number) < 1) fail("numClasses", "must be a positive integer");
  if (m.classNames !== undefined) {
    const names = m.classNames;
    if (!Array.isArray(names) || names.length !== m.numClasses || !names.every((s) => typeof s === "string")) fail("classNames", `must be ${m.numClasses} strings`);
  }
  if (typeof m.wInput !== "boolean") fail("wInput", "must be true or false");
  if (m.wMax !== undefined && m.wMax !== null && !(typeof m.wMax === "number" && m.wMax >= 0)) fail("wMax", "must be a number >= 0 or null");
  if (typeof m.prediction !== "string") fail("prediction", "must be a string");
  const schedule = m.schedule as Record<string, unknown> | undefined;
  if (typeof schedule !== "object" || schedule === null || schedule.type !== "cosine-logsnr") fail("schedule.type", `must be "cosine-logsnr" (the only schedule the portable samplers know)`);
  if (schedule!.lambdaMin !== -20 || schedule!.lambdaMax !== 20) fail("schedule", `has lambda range [${schedule!.lambdaMin}, ${schedule!.lambdaMax}]; the portable samplers use [-20, 20]`);
  if (m.steps !== undefined && m.steps !== null && !(Number.isInteger(m.steps) && (m.steps as number) >= 1)) fail("steps", "must be a positive integer or null");
  return {
    format: FEWSTEP_ONNX_FORMAT,
    kind: m.kind as string,
    exampleShape: (shape as number[]).slice(),
    numClasses: m.numClasses as number,
    ...(m.classNames !== undefined ? { classNames: (m.classNames as string[]).slice() } : {}),
    wInput: m.wInput as boolean,
    wMax: (m.wMax as number | null | undefined) ?? null,
    prediction: m.prediction as string,
    schedule: { type: "cosine-logsnr", lambdaMin: -20, lambdaMax: 20 },
    steps: (m.steps as number | null | undefined) ?? null,
    source: typeof m.source === "string" ? m.source : "",
    ...(m.weights === "ema" || m.weights === "params" ? { weights: m.weights } : {}),
    ...(Array.isArray(m.wRange) && m.wRange.length === 2 && m.wRange.every((v) => typeof v === "number") ? { wRange: [m.wRange[0], m.wRange[1]] as [number, number] } : {}),
  };
}

/** Just enough of the protobuf wire format to walk a message's top-level fields. */
class ProtoReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new Error("truncated varint");
      const byte = this.buf[this.pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    throw new Error("varint longer than 10 bytes");
  }

  tag(): [field: number, wire: number] {
    const key = this.varint();
    return [Math.floor(key / 8), key % 8];
  }

  bytes(): Uint8Array {
    const length = this.varint();
    if (this.pos + length > this.buf.length) throw new Error(`field of ${length} bytes runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  string(): string {
    return new TextDecoder().decode(this.bytes());
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.advance(4);
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error("truncated field");
    this.pos += n;
  }
}

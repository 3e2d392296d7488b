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
  /** "denoiser" (absent in files written before autoencoders were exported). */
  role?: "denoiser";
  /** A latent model: its samples are latents of this autoencoder, decoded by `decoder`. */
  latent?: LatentOnnxInfo;
}

/** What a latent denoiser's file says about its latent space. */
export interface LatentOnnxInfo {
  /** File name of the decoder exported beside it (`fewstep export` writes NAME.decoder.onnx), or null when none was. */
  decoder: string | null;
  /** SHA-256 of the autoencoder it was trained with; the decoder's `autoencoderSha256` must equal it. */
  autoencoderSha256: string;
  /** Decoded images [C, S, S] before the crop. */
  imageShape: number[];
  /** Side decoded images are center-cropped to, or null. */
  cropTo: number | null;
}

/** The contract's JSON of an exported autoencoder part: a decoder (input `latents`, output `image`) or an encoder (input `image`, outputs `mean`, `logvar`, `latents`). */
export interface FewstepAutoencoderOnnxMetadata {
  format: "fewstep-onnx/1";
  role: "decoder" | "encoder";
  /** "autoencoder-kl" (informational). */
  kind: string;
  /** Diffusion latents [latent_channels, h, w]: the decoder's input, the encoder's `latents` output (mean * scalingFactor). */
  latentShape: number[];
  /** Images [C, S, S] the encoder takes and the decoder makes before any crop. */
  imageShape: number[];
  /** Decoder: its `image` output is the center [cropTo, cropTo] of the decoded image; null (and always for an encoder): not cropped. */
  cropTo: number | null;
  /** Diffusion latents are scalingFactor * z: the decoder divides by it, the encoder multiplies. */
  scalingFactor: number;
  /** SHA-256 of the autoencoder's config and weights (fewstep's autoencoderHash). */
  autoencoderSha256: string;
  /** The autoencoder file it came from. */
  source: string;
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

/** The checked `fewstep` metadata of an exported denoiser; `source` names the file in errors. */
export function readFewstepMetadata(bytes: Uint8Array, source = "model"): FewstepOnnxMetadata {
  return validateFewstepMetadata(readFewstepJson(bytes, source), source);
}

/** The checked `fewstep` metadata of an exported autoencoder part; `role` is the part the caller needs. */
export function readFewstepAutoencoderMetadata(bytes: Uint8Array, role: "decoder" | "encoder", source = "model"): FewstepAutoencoderOnnxMetadata {
  return validateAutoencoderMetadata(readFewstepJson(bytes, source), role, source);
}

/** The parsed JSON under metadata_props "fewstep". */
function readFewstepJson(bytes: Uint8Array, source: string): unknown {
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
  return json;
}

/** Checks the contract field by field; the message names the first bad field. */
export function validateFewstepMetadata(json: unknown, source = "model"): FewstepOnnxMetadata {
  const fail: Fail = (field, problem) => {
    throw new OnnxMetadataError(`${source}: fewstep metadata ${field} ${problem}`);
  };
  if (typeof json !== "object" || json === null) fail("(root)", "must be an object");
  const m = json as Record<string, unknown>;
  if (m.format !== FEWSTEP_ONNX_FORMAT) fail("format", `is ${JSON.stringify(m.format)}; this fewstep reads "${FEWSTEP_ONNX_FORMAT}"`);
  if (m.role === "decoder" || m.role === "encoder") throw new OnnxMetadataError(`${source}: this is an autoencoder's ${m.role}, not a denoiser; give the denoiser's .onnx (its decoder is found beside it)`);
  if (m.role !== undefined && m.role !== "denoiser") fail("role", `is ${JSON.stringify(m.role)}; expected "denoiser", "decoder" or "encoder"`);
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
  const latent = m.latent === undefined || m.latent === null ? undefined : validateLatentInfo(m.latent, fail);
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
    role: "denoiser",
    ...(latent ? { latent } : {}),
  };
}

type Fail = (field: string, problem: string) => never;

const isShape = (v: unknown, rank: number): v is number[] => Array.isArray(v) && v.length === rank && v.every((d) => Number.isInteger(d) && d > 0);
const isSha256 = (v: unknown): v is string => typeof v === "string" && /^[0-9a-f]{64}$/.test(v);
const isCrop = (v: unknown, side: number): v is number | null => v === null || (Number.isInteger(v) && (v as number) > 0 && (v as number) <= side);

function validateLatentInfo(raw: unknown, fail: Fail): LatentOnnxInfo {
  const l = raw as Record<string, unknown>;
  if (typeof l !== "object") fail("latent", "must be an object");
  if (l.decoder !== null && (typeof l.decoder !== "string" || l.decoder === "" || /[/\\]/.test(l.decoder))) fail("latent.decoder", "must be a file name (no folder) or null");
  if (!isSha256(l.autoencoderSha256)) fail("latent.autoencoderSha256", "must be 64 lowercase hex digits");
  if (!isShape(l.imageShape, 3)) fail("latent.imageShape", "must be [C, S, S] of positive integers");
  if (!isCrop(l.cropTo, (l.imageShape as number[])[1])) fail("latent.cropTo", "must be null or a side in [1, S]");
  return { decoder: l.decoder as string | null, autoencoderSha256: l.autoencoderSha256 as string, imageShape: (l.imageShape as number[]).slice(), cropTo: l.cropTo as number | null };
}

/** Checks an autoencoder part's contract field by field; `role` is the part the caller needs. */
export function validateAutoencoderMetadata(json: unknown, role: "decoder" | "encoder", source = "model"): FewstepAutoencoderOnnxMetadata {
  const fail: Fail = (field, problem) => {
    throw new OnnxMetadataError(`${source}: fewstep metadata ${field} ${problem}`);
  };
  if (typeof json !== "object" || json === null) fail("(root)", "must be an object");
  const m = json as Record<string, unknown>;
  if (m.format !== FEWSTEP_ONNX_FORMAT) fail("format", `is ${JSON.stringify(m.format)}; this fewstep reads "${FEWSTEP_ONNX_FORMAT}"`);
  if (m.role !== role) {
    const what = m.role === "decoder" || m.role === "encoder" ? `an autoencoder's ${m.role}` : "a denoiser";
    throw new OnnxMetadataError(`${source}: this is ${what}, not an autoencoder's ${role}; export one with \`fewstep export --autoencoder AE --part ${role}\``);
  }
  if (typeof m.kind !== "string") fail("kind", "must be a string");
  if (!isShape(m.latentShape, 3)) fail("latentShape", "must be [latent_channels, h, w] of positive integers");
  if (!isShape(m.imageShape, 3)) fail("imageShape", "must be [C, S, S] of positive integers");
  if (!isCrop(m.cropTo, (m.imageShape as number[])[1])) fail("cropTo", "must be null or a side in [1, S]");
  if (role === "encoder" && m.cropTo !== null) fail("cropTo", "must be null for an encoder");
  if (!(typeof m.scalingFactor === "number" && Number.isFinite(m.scalingFactor) && m.scalingFactor > 0)) fail("scalingFactor", "must be a positive number");
  if (!isSha256(m.autoencoderSha256)) fail("autoencoderSha256", "must be 64 lowercase hex digits");
  return {
    format: FEWSTEP_ONNX_FORMAT,
    role,
    kind: m.kind as string,
    latentShape: (m.latentShape as number[]).slice(),
    imageShape: (m.imageShape as number[]).slice(),
    cropTo: m.cropTo as number | null,
    scalingFactor: m.scalingFactor as number,
    autoencoderSha256: m.autoencoderSha256 as string,
    source: typeof m.source === "string" ? m.source : "",
  };
}

/** The shape [C, H, W] of a decoder's `image` output: the decoded image, center-cropped when the file says so. */
export function decodedImageShape(m: Pick<FewstepAutoencoderOnnxMetadata, "imageShape" | "cropTo">): number[] {
  const [c, h, w] = m.imageShape;
  return m.cropTo === null ? [c, h, w] : [c, m.cropTo, m.cropTo];
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

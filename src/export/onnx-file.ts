// What every fewstep ONNX file shares, whatever its graph: opset, IR version, producer, and the
// metadata_props key of the fewstep record (its contract: src/portable/onnx-metadata.ts).
import { readFileSync } from "node:fs";
import type { GraphBuilder } from "./graph-builder.js";

/** Opset 17: has LayerNormalization; GroupNormalization (18) is built from InstanceNormalization. */
export const ONNX_OPSET = 17;
/** IR version 8 (ONNX 1.10+), the version that goes with opset 17; onnxruntime 1.30 reads it. */
export const ONNX_IR_VERSION = 8;
/** The metadata_props key of the fewstep record. */
export const FEWSTEP_METADATA_KEY = "fewstep";

/** fewstep's version (package.json, two folders above dist/src/export), the ModelProto's producer_version. */
function fewstepVersion(): string {
  try {
    return String(JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version);
  } catch {
    return "unknown";
  }
}

/** The ModelProto bytes of a finished graph, with the fewstep record as JSON under FEWSTEP_METADATA_KEY. */
export function encodeFewstepModel(g: GraphBuilder, opts: { graphName: string; docString: string; metadata: object }): Uint8Array {
  return g.encode({
    graphName: opts.graphName,
    irVersion: ONNX_IR_VERSION,
    opset: ONNX_OPSET,
    producerName: "fewstep",
    producerVersion: fewstepVersion(),
    docString: opts.docString,
    metadata: { [FEWSTEP_METADATA_KEY]: JSON.stringify(opts.metadata) },
  });
}

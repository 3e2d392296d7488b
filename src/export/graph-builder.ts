// A small builder for one ONNX graph: named initializers (weights and constants), nodes in
// topological order (each emitted after its inputs), graph inputs and outputs with a symbolic
// batch dimension, and the ModelProto around them. Only float32 and int64 tensors are needed.
import { AttributeType, DataType, encodeModelProto } from "./onnx-proto.js";

/** An attribute value, tagged with its ONNX type (a bare number would be ambiguous: axis or epsilon). */
export type Attr = { f: number } | { i: number } | { s: string } | { ints: number[] } | { floats: number[] };

/** A dimension: a fixed size, or a symbolic name such as "batch". */
export type Dim = number | string;

interface TensorInfo {
  name: string;
  elemType: number;
  dims: Dim[];
}

/** The dtype names of graph inputs and outputs. */
export type ElemType = "float32" | "int64";

const ELEM: Record<ElemType, number> = { float32: DataType.FLOAT, int64: DataType.INT64 };

export class GraphBuilder {
  private readonly nodes: Record<string, unknown>[] = [];
  private readonly initializers: Record<string, unknown>[] = [];
  private readonly inputs: TensorInfo[] = [];
  private readonly outputs: TensorInfo[] = [];
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();
  /** Constant values already added, so repeated scalars (1, -2, axes) share one initializer. */
  private readonly constants = new Map<string, string>();
  /** Number of values stored in float32 initializers that came from model parameters. */
  parameterCount = 0;

  /** A name not used yet in this graph: `base`, else `base_1`, `base_2`, ... */
  fresh(base: string): string {
    let name = base;
    let k = this.counters.get(base) ?? 0;
    while (this.used.has(name)) name = `${base}_${++k}`;
    this.counters.set(base, k);
    this.used.add(name);
    return name;
  }

  /** A float32 initializer (stored as little-endian raw_data); returns its name. */
  initializer(name: string, values: Float32Array, dims: number[], opts: { parameter?: boolean } = {}): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== values.length) throw new Error(`initializer ${name}: dims [${dims}] need ${count} values, got ${values.length}`);
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, data_type: DataType.FLOAT, dims, raw_data: littleEndianBytes(values) });
    if (opts.parameter) this.parameterCount += values.length;
    return unique;
  }

  /** An int64 initializer; returns its name. */
  int64Initializer(name: string, values: number[], dims: number[] = [values.length]): string {
    const unique = this.fresh(name);
    this.initializers.push({ name: unique, data_type: DataType.INT64, dims, raw_data: littleEndianBytes(BigInt64Array.from(values, BigInt)) });
    return unique;
  }

  /**
   * A float32 constant, rounded to float32 exactly as libtorch rounds a double scalar operand of a
   * float32 op. Shared between uses; `dims` [] is a scalar (broadcasts everywhere).
   */
  constFloat(values: number | number[], dims?: number[]): string {
    const list = typeof values === "number" ? [values] : values;
    const shape = dims ?? (typeof values === "number" ? [] : [list.length]);
    const key = `f:${shape.join("x")}:${list.join(",")}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.initializer("const", Float32Array.from(list), shape);
      this.constants.set(key, name);
    }
    return name;
  }

  /** An int64 constant (axes, shapes); shared between uses. */
  constInt64(values: number[]): string {
    const key = `i:${values.join(",")}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.int64Initializer("const_i64", values);
      this.constants.set(key, name);
    }
    return name;
  }

  /**
   * Adds a node; returns its output names (fresh, from `op` or `opts.name`).
   * An empty string in `inputs` is an omitted optional input, as ONNX spells it.
   */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, opts: { outputs?: number; name?: string } = {}): string[] {
    const base = opts.name ?? op.toLowerCase();
    const outputs = Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(base));
    this.nodes.push({ op_type: op, name: this.fresh(`${base}_node`), input: inputs, output: outputs, attribute: Object.entries(attrs).map(([name, value]) => attribute(name, value)) });
    return outputs;
  }

  /** A one-output node; returns its output name. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}, name?: string): string {
    return this.node(op, inputs, attrs, { name })[0];
  }

  /** Declares a graph input. */
  input(name: string, type: ElemType, dims: Dim[]): string {
    if (this.used.has(name)) throw new Error(`graph input ${name}: the name is taken`);
    this.used.add(name);
    this.inputs.push({ name, elemType: ELEM[type], dims });
    return name;
  }

  /** Declares `value` as a graph output named `name` (through an Identity when the names differ). */
  output(value: string, name: string, type: ElemType, dims: Dim[]): void {
    if (value !== name) {
      if (this.used.has(name)) throw new Error(`graph output ${name}: the name is taken`);
      this.used.add(name);
      this.nodes.push({ op_type: "Identity", name: this.fresh("output_node"), input: [value], output: [name] });
    }
    this.outputs.push({ name, elemType: ELEM[type], dims });
  }

  /** The encoded ModelProto. */
  encode(model: { graphName: string; irVersion: number; opset: number; producerName: string; producerVersion: string; docString?: string; metadata: Record<string, string> }): Uint8Array {
    return encodeModelProto({
      ir_version: model.irVersion,
      opset_import: [{ domain: "", version: model.opset }],
      producer_name: model.producerName,
      producer_version: model.producerVersion,
      doc_string: model.docString ?? "",
      graph: {
        name: model.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs.map(valueInfo),
        output: this.outputs.map(valueInfo),
      },
      metadata_props: Object.entries(model.metadata).map(([key, value]) => ({ key, value })),
    });
  }
}

function valueInfo(info: TensorInfo): Record<string, unknown> {
  const dim = info.dims.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d }));
  return { name: info.name, type: { tensor_type: { elem_type: info.elemType, shape: { dim } } } };
}

function attribute(name: string, value: Attr): Record<string, unknown> {
  if ("f" in value) return { name, type: AttributeType.FLOAT, f: value.f };
  if ("i" in value) return { name, type: AttributeType.INT, i: value.i };
  if ("s" in value) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.s) };
  if ("ints" in value) return { name, type: AttributeType.INTS, ints: value.ints };
  return { name, type: AttributeType.FLOATS, floats: value.floats };
}

/** The typed array's bytes in little-endian order (ONNX raw_data's byte order). */
function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  if (values instanceof Float32Array) values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  else values.forEach((v, i) => view.setBigInt64(8 * i, v, true));
  return out;
}

// Flag parsing for the `fewstep` commands: each command declares its flags once (name, kind,
// default, help); parsing, validation and `--help` text all come from that declaration.
import { readFileSync } from "node:fs";
import { FewstepError } from "../engine/errors.js";

/** `boolean` is a switch: `--resume` alone is true; `--resume yes|no` (see BOOLEAN_VALUES) also works. */
export type FlagKind = "string" | "int" | "number" | "path" | "numbers" | "boolean";

/** The words a boolean flag accepts after it (`--resume no`, `--resume=true`) and what they mean. */
export const BOOLEAN_VALUES: ReadonlyMap<string, boolean> = new Map([["yes", true], ["no", false], ["true", true], ["false", false], ["1", true], ["0", false]]);

export interface FlagSpec {
  name: string;
  kind: FlagKind;
  help: string;
  /** Shown in --help and used when the flag is absent (boolean flags: true or false). */
  default?: string | number | boolean;
  /** Smallest allowed value of int/number flags. */
  min?: number;
  /** Largest allowed value of int/number flags. */
  max?: number;
  /** Allowed values of a string flag. */
  choices?: readonly string[];
  /** Placeholder in the usage line, e.g. "W"; boolean flags take none. */
  meta?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: FlagSpec[];
  examples?: string[];
}

export type ParsedFlags = Record<string, string | number | number[] | boolean | undefined>;

/** A command: its declared flags and what runs with the parsed values. */
export interface Command {
  spec: CommandSpec;
  run: (flags: ParsedFlags) => Promise<void>;
}

export function helpText(spec: CommandSpec): string {
  const width = Math.max(...spec.flags.map((f) => f.name.length + (f.meta ?? "").length)) + 5;
  const lines = spec.flags.map((f) => {
    const left = `  --${f.name}${f.meta ? ` ${f.meta}` : ""}`.padEnd(width + 2);
    const extra = f.kind === "boolean" ? switchNote(f) : [f.choices ? `one of: ${f.choices.join(", ")}` : "", f.max !== undefined ? `at most ${f.max}` : "", f.default !== undefined ? `default: ${f.default}` : ""].filter(Boolean).join("; ");
    return `${left}${f.help}${extra ? ` (${extra})` : ""}`;
  });
  const config = `  --config FILE`.padEnd(width + 2) + "a JSON object of these flags, e.g. {\"steps\": 2000}; command-line flags override it";
  return [`fewstep ${spec.name}: ${spec.summary}`, "", `Usage: ${spec.usage}`, "", "Flags:", ...lines, config, ...(spec.examples ? ["", "Examples:", ...spec.examples.map((e) => `  ${e}`)] : [])].join("\n");
}

// A switch reads as on/off; one that is on by default says how to turn it off (there is no --no-X).
function switchNote(f: FlagSpec): string {
  return f.default === true ? `switch; default: on, --${f.name} no turns it off` : "switch; default: off";
}

/**
 * Parses `--name value` / `--name=value` pairs; every error names the flag and the fix.
 * A boolean flag is a switch: `--resume` alone is true, and it takes the next token only if that
 * is not a flag (`--resume no`, but `--resume --steps 3`); a taken value must be in BOOLEAN_VALUES.
 * `--config FILE` reads a JSON object of the same flags ({"steps": 2000, "w-max": 4}); flags on the
 * command line override it, but a flag given twice on the command line is an error. Numbers are
 * decimal only; a config field must have its flag's JSON type (see convertJson). The resolved
 * flags are what commands save as the run's config.
 */
export function parseFlags(args: string[], spec: CommandSpec): ParsedFlags {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const out: ParsedFlags = {};
  const isConfig = (a: string) => a === "--config" || a.startsWith("--config=");
  const configAt = args.findIndex(isConfig);
  if (configAt >= 0) {
    if (args.slice(configAt + 1).some(isConfig)) throw new FewstepError(`${spec.name}: --config is given more than once; give one file`);
    const arg = args[configAt];
    const path = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[configAt + 1];
    if (!path) throw new FewstepError("--config needs a JSON file");
    Object.assign(out, readConfig(path, spec, byName));
    args = [...args.slice(0, configAt), ...args.slice(configAt + (arg.includes("=") ? 1 : 2))];
  }
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new FewstepError(`${spec.name}: unexpected argument '${arg}'; see \`fewstep ${spec.name} --help\``);
    const eq = arg.indexOf("=");
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const flag = byName.get(name);
    if (!flag) throw new FewstepError(`${spec.name}: unknown flag --${name}; known: ${spec.flags.map((f) => `--${f.name}`).join(", ")}`);
    // a second --steps would silently win over the first; say so instead (a --config file may still be overridden)
    if (seen.has(name)) throw new FewstepError(`${spec.name}: --${name} is given more than once; give it once`);
    seen.add(name);
    if (flag.kind === "boolean" && eq < 0 && (args[i + 1] === undefined || args[i + 1].startsWith("--"))) {
      out[name] = true;
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new FewstepError(`--${name} needs a value (${flag.help})`);
    out[name] = convert(flag, raw);
  }
  // a list default is written as text ("1,2,2") for --help; commands get it parsed like a flag
  for (const f of spec.flags) if (out[f.name] === undefined && f.default !== undefined) out[f.name] = f.kind === "numbers" ? convert(f, String(f.default)) : f.default;
  return out;
}

function readConfig(path: string, spec: CommandSpec, byName: Map<string, FlagSpec>): ParsedFlags {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new FewstepError(`--config ${path}: ${(error as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new FewstepError(`--config ${path}: must hold a JSON object of flags, e.g. {"steps": 2000}`);
  const out: ParsedFlags = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(json)) {
    const flag = byName.get(key);
    if (!flag) {
      problems.push(`unknown field "${key}" (known: ${spec.flags.map((f) => f.name).join(", ")})`);
      continue;
    }
    try {
      out[key] = convertJson(flag, value);
    } catch (error) {
      problems.push(`field "${key}": ${(error as Error).message.replace(/^--\S+ /, "")}`);
    }
  }
  if (problems.length > 0) throw new FewstepError(`--config ${path}: ${problems.join("; ")}`);
  return out;
}

// What a --config field of each kind must hold, as JSON.
const JSON_TYPES: Record<FlagKind, string> = {
  int: "an integer (a JSON number)",
  number: "a number (a JSON number)",
  numbers: "a list of numbers or a comma-separated string",
  boolean: `true or false (or one of ${[...BOOLEAN_VALUES.keys()].join(", ")} as a string)`,
  string: "a string",
  path: "a string",
};

// A --config value: its JSON type must fit the flag's kind ({"steps": "2"} and {"steps": [2]} are
// refused, not coerced); then it is checked like the same value given on the command line.
function convertJson(flag: FlagSpec, value: unknown): string | number | number[] | boolean {
  const fits =
    flag.kind === "int" || flag.kind === "number"
      ? typeof value === "number"
      : flag.kind === "numbers"
        ? typeof value === "string" || (Array.isArray(value) && value.every((v) => typeof v === "number"))
        : flag.kind === "boolean"
          ? typeof value === "boolean" || typeof value === "string"
          : typeof value === "string";
  if (!fits) throw new FewstepError(`--${flag.name} must be ${JSON_TYPES[flag.kind]}, got ${describeJson(value)}`);
  if (typeof value === "boolean") return value;
  return convert(flag, Array.isArray(value) ? value.join(",") : String(value));
}

function describeJson(value: unknown): string {
  const text = JSON.stringify(value);
  if (Array.isArray(value)) return `the list ${text}`;
  if (typeof value === "string") return `the string ${text}`;
  return value === null ? "null" : typeof value === "object" ? `the object ${text}` : `${text}`;
}

// Decimal only: no 0x10, 0o7, 0b1, Infinity, NaN or empty string, which Number() would take.
// An int is digits; a number may have a fraction and an exponent (1e-4 is a learning rate).
const INT_TEXT = /^[+-]?\d+$/;
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function convert(flag: FlagSpec, raw: string): string | number | number[] | boolean {
  if (flag.kind === "boolean") {
    const value = BOOLEAN_VALUES.get(raw);
    if (value === undefined) throw new FewstepError(`--${flag.name} must be one of ${[...BOOLEAN_VALUES.keys()].join(", ")} (or nothing: --${flag.name} alone means yes), got '${raw}'`);
    return value;
  }
  if (flag.kind === "numbers") {
    // comma-separated, e.g. --ws 0,1,4; each entry checked like a number flag
    return raw.split(",").map((part) => convert({ ...flag, kind: "number" }, part) as number);
  }
  if (flag.kind === "int" || flag.kind === "number") {
    const value = Number(raw);
    const ok = flag.kind === "int" ? INT_TEXT.test(raw) && Number.isSafeInteger(value) : NUMBER_TEXT.test(raw) && Number.isFinite(value);
    if (!ok) throw new FewstepError(`--${flag.name} must be ${flag.kind === "int" ? "an integer in decimal digits" : "a decimal number (1e-4 is fine)"}, got '${raw}'`);
    if (flag.min !== undefined && value < flag.min) throw new FewstepError(`--${flag.name} must be >= ${flag.min}, got ${raw}`);
    if (flag.max !== undefined && value > flag.max) throw new FewstepError(`--${flag.name} must be <= ${flag.max}, got ${raw}`);
    return value;
  }
  if (flag.choices && !flag.choices.includes(raw)) throw new FewstepError(`--${flag.name} must be one of ${flag.choices.join(", ")}, got '${raw}'`);
  return raw;
}

/** The --device flag every trainer and sampler shares. */
export const DEVICE_FLAG: FlagSpec = {
  name: "device",
  kind: "string",
  meta: "DEV",
  default: "cpu",
  help: "where parameters, optimizer state and every training draw live: cpu, cuda or cuda:N (cuda needs the addon built against a CUDA libtorch)",
};

/** The parsed --device, checked against this build of the addon. */
export async function deviceFlag(flags: ParsedFlags): Promise<import("../engine/index.js").Device> {
  const { FewstepError, resolveDevice } = await import("../engine/index.js");
  try {
    return resolveDevice(String(flags.device ?? "cpu"));
  } catch (err) {
    throw new FewstepError(`--device: ${(err as Error).message}`);
  }
}

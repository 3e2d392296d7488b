// The command-line flags of a benchmark script: unknown flags refused, integer flags checked.
// Benches are scripts, not CLI commands, so they keep this small parser instead of src/cli/flags.ts.

export interface BenchArgs {
  /** The integer after `--name`, or `fallback` when absent. @throws Error below `min` or not an integer */
  int(name: string, fallback: number, min: number): number;
  /** The text after `--name`, or undefined when absent. */
  text(name: string): string | undefined;
  /** Whether `--name` is given. */
  has(name: string): boolean;
}

/** Parses `argv` for the bench `bench` (its name in messages), refusing flags not in `known`. */
export function benchArgs(bench: string, known: readonly string[], argv = process.argv.slice(2)): BenchArgs {
  for (const a of argv) {
    if (a.startsWith("--") && !known.includes(a.slice(2))) throw new Error(`${bench}: unknown flag ${a}; known: ${known.map((k) => `--${k}`).join(" ")}`);
  }
  return {
    int(name, fallback, min) {
      const i = argv.indexOf(`--${name}`);
      const v = i >= 0 ? Number(argv[i + 1]) : fallback;
      if (!Number.isSafeInteger(v) || v < min) throw new Error(`${bench}: --${name} must be an integer >= ${min}, got ${argv[i + 1]}`);
      return v;
    },
    text(name) {
      const i = argv.indexOf(`--${name}`);
      return i >= 0 ? argv[i + 1] : undefined;
    },
    has: (name) => argv.includes(`--${name}`),
  };
}

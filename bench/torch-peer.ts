// What every bench against a PyTorch peer script shares: the peer's environment (the libgomp spin
// setting fewstep's addon gave this process), running the peer with /usr/bin/python3 (Debian's
// torch, the libtorch build the addon links) and reading its last JSON line, the median, and the
// parameter-list comparison that must pass before anything is timed.
import { execFileSync } from "node:child_process";

/**
 * The environment of the peer: the addon sets GOMP_SPINCOUNT (FEWSTEP_GOMP_SPINCOUNT, default
 * 10000) while loading libtorch unless the user set GOMP_SPINCOUNT or OMP_WAIT_POLICY (then both
 * processes inherit those) or asked for "default". OPENBLAS_NUM_THREADS, when set, reaches both
 * the same way.
 */
export function peerEnv(): { env: NodeJS.ProcessEnv; spin: string } {
  const env = { ...process.env };
  if (env.GOMP_SPINCOUNT !== undefined || env.OMP_WAIT_POLICY !== undefined) {
    const set = ["GOMP_SPINCOUNT", "OMP_WAIT_POLICY"].filter((k) => env[k] !== undefined).map((k) => `${k}=${env[k]}`);
    return { env, spin: `${set.join(", ")} (set by the user, inherited by both)` };
  }
  if (env.FEWSTEP_GOMP_SPINCOUNT === "default") return { env, spin: "libgomp's default spin (FEWSTEP_GOMP_SPINCOUNT=default)" };
  env.GOMP_SPINCOUNT = env.FEWSTEP_GOMP_SPINCOUNT ?? "10000";
  return { env, spin: `GOMP_SPINCOUNT=${env.GOMP_SPINCOUNT} (fewstep's addon sets it at load; the PyTorch peer gets the same)` };
}

/** Runs `script` with `--threads threads` and `args` in `env`; its last stdout line is the JSON result. */
export function runTorchPeer<T>(script: string, threads: number, args: string[], env: NodeJS.ProcessEnv): T {
  const out = execFileSync("/usr/bin/python3", [script, "--threads", String(threads), ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 1 << 26,
    env,
  });
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export type NamedShapes = [string, number[]][];

/**
 * Parameter names, shapes and counts of fewstep's net against the peer's, position by position
 * (`sorted`: by name, for a peer whose state_dict order is not its creation order).
 * @returns the differences (at most 10, one line each) and the counts
 */
export function compareNamedShapes(ours: NamedShapes, theirs: NamedShapes, o: { sorted?: boolean } = {}): string[] {
  const sort = (list: NamedShapes) => (o.sorted ? [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) : list);
  const [a, b] = [sort(ours), sort(theirs)];
  const diffs: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const [x, y] = [a[i], b[i]];
    if (!x || !y || x[0] !== y[0] || x[1].join() !== y[1].join()) diffs.push(`#${i}: fewstep ${x ? `${x[0]} [${x[1]}]` : "-"} vs PyTorch ${y ? `${y[0]} [${y[1]}]` : "-"}`);
  }
  return diffs.slice(0, 10);
}

#!/usr/bin/env node
// Finds a libtorch to build the addon against (DESIGN.md section 3), in this order:
//   1. LIBTORCH (a libtorch folder with include/ and lib/), or LIBTORCH_INCLUDE + LIBTORCH_LIB;
//   2. a Python that imports torch (/usr/bin/python3 first: a pyenv python3 on PATH has none);
//   3. the system: Debian's libtorch-dev (headers in /usr/include, CMake config in
//      /usr/lib/x86_64-linux-gnu/cmake/Torch).
// LIBTORCH_PYTHON (comma-separated, default "/usr/bin/python3,python3,python") and
// LIBTORCH_SYSTEM_PREFIX (default "/usr") change where steps 2 and 3 look.
// Usage: node find-libtorch.mjs <field>   field: includes | libdir | libs | abi | cuda | json
// binding.gyp calls it once per field; the search is cheap and deterministic.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

function fail(message) {
  process.stderr.write(`fewstep: ${message}\n`);
  process.exit(1);
}

function fromEnv() {
  const root = process.env.LIBTORCH;
  const include = process.env.LIBTORCH_INCLUDE ?? (root ? join(root, "include") : undefined);
  const lib = process.env.LIBTORCH_LIB ?? (root ? join(root, "lib") : undefined);
  if (!include && !lib) return null;
  if (!include || !existsSync(join(include, "ATen", "ATen.h"))) {
    fail(`LIBTORCH/LIBTORCH_INCLUDE is set but ${include}/ATen/ATen.h does not exist: point it at a libtorch folder (with include/ and lib/)`);
  }
  if (!lib || !existsSync(lib)) fail(`LIBTORCH/LIBTORCH_LIB is set but ${lib} does not exist`);
  const cuda = existsSync(join(lib, "libtorch_cuda.so"));
  // libtorch archives state their ABI in their CMake config; default to the new ABI.
  let abi = 1;
  const cfg = root ? join(root, "share", "cmake", "Torch", "TorchConfig.cmake") : "";
  if (cfg && existsSync(cfg) && /_GLIBCXX_USE_CXX11_ABI=0/.test(readFileSync(cfg, "utf8"))) abi = 0;
  if (process.env.LIBTORCH_CXX11_ABI !== undefined) abi = Number(process.env.LIBTORCH_CXX11_ABI);
  return { source: "LIBTORCH", include, lib, abi, cuda };
}

function fromPython() {
  const script = [
    "import os, torch",
    "root = os.path.dirname(torch.__file__)",
    "print(os.path.join(root, 'include'))",
    "print(os.path.join(root, 'lib'))",
    "print(int(torch._C._GLIBCXX_USE_CXX11_ABI))",
    "print(int(torch.version.cuda is not None))",
    "print(torch.__version__)",
  ].join("\n");
  const candidates = (process.env.LIBTORCH_PYTHON ?? "/usr/bin/python3,python3,python").split(",").filter(Boolean);
  for (const python of candidates) {
    let out;
    try {
      out = execFileSync(python, ["-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      continue;
    }
    const [include, lib, abi, cuda, version] = out.trim().split("\n");
    if (!existsSync(join(include, "ATen", "ATen.h"))) continue; // a torch without C++ headers
    return { source: `python (${python}, torch ${version})`, include, lib, abi: Number(abi), cuda: cuda === "1" };
  }
  return null;
}

function fromSystem() {
  const prefix = process.env.LIBTORCH_SYSTEM_PREFIX ?? "/usr";
  const include = join(prefix, "include");
  const lib = join(prefix, "lib", "x86_64-linux-gnu");
  if (!existsSync(join(include, "ATen", "ATen.h")) || !existsSync(join(lib, "libtorch.so"))) return null;
  const cfg = join(lib, "cmake", "Torch", "TorchConfig.cmake");
  const abi = existsSync(cfg) && /_GLIBCXX_USE_CXX11_ABI=0/.test(readFileSync(cfg, "utf8")) ? 0 : 1;
  return { source: "system (libtorch-dev)", include, lib, abi, cuda: existsSync(join(lib, "libtorch_cuda.so")) };
}

const found = fromEnv() ?? fromPython() ?? fromSystem();
if (!found) {
  fail(
    "no libtorch found. Give one of: (1) LIBTORCH=/path/to/libtorch (or LIBTORCH_INCLUDE and LIBTORCH_LIB); " +
      "(2) a Python with PyTorch (`/usr/bin/python3 -c 'import torch'` must work); " +
      "(3) Debian's package: `apt-get install libtorch-dev libopenblas0-pthread`.",
  );
}

// The C++ standard libtorch's headers need: C++17 up to 2.11; ATen asks for C++20 from 2.12 on.
function cxxStandard(include) {
  const header = join(include, "torch", "csrc", "api", "include", "torch", "version.h");
  if (!existsSync(header)) return "c++17";
  const text = readFileSync(header, "utf8");
  const major = Number(/TORCH_VERSION_MAJOR\s+(\d+)/.exec(text)?.[1] ?? 1);
  const minor = Number(/TORCH_VERSION_MINOR\s+(\d+)/.exec(text)?.[1] ?? 0);
  return major > 2 || (major === 2 && minor >= 12) ? "c++20" : "c++17";
}

const field = process.argv[2] ?? "json";
const includes = [found.include, join(found.include, "torch", "csrc", "api", "include")];
const libs = ["-ltorch", "-ltorch_cpu", "-lc10", ...(found.cuda ? ["-ltorch_cuda", "-lc10_cuda"] : [])];
switch (field) {
  case "includes":
    console.log(includes.join(" "));
    break;
  case "libdir":
    console.log(found.lib);
    break;
  case "libs":
    console.log(libs.join(" "));
    break;
  case "abi":
    console.log(found.abi);
    break;
  case "cuda":
    console.log(found.cuda ? 1 : 0);
    break;
  case "std":
    console.log(cxxStandard(found.include));
    break;
  case "json":
    console.log(JSON.stringify({ ...found, includes, libs, std: cxxStandard(found.include) }, null, 2));
    break;
  default:
    fail(`find-libtorch: unknown field '${field}' (includes, libdir, libs, abi, cuda, std, json)`);
}

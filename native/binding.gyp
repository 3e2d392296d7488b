# Built by `npm run build:native` (node-gyp), never by an install hook (DESIGN.md section 3).
# scripts/find-libtorch.mjs finds libtorch: LIBTORCH, then a Python with torch, then libtorch-dev.
{
  "targets": [
    {
      "target_name": "fewstep",
      "sources": ["src/addon.cc", "src/creation.cc", "src/ops.cc", "src/autograd.cc", "src/optim.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node ../scripts/find-libtorch.mjs includes)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "_GLIBCXX_USE_CXX11_ABI=<!(node ../scripts/find-libtorch.mjs abi)",
        "FEWSTEP_CUDA=<!(node ../scripts/find-libtorch.mjs cuda)"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++14"],
      "cflags_cc": ["-std=<!(node ../scripts/find-libtorch.mjs std)", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"],
      "libraries": [
        "-L<!(node ../scripts/find-libtorch.mjs libdir)",
        "-Wl,-rpath,<!(node ../scripts/find-libtorch.mjs libdir)",
        "-Wl,--no-as-needed",
        "<!@(node ../scripts/find-libtorch.mjs libs)",
        "-Wl,--as-needed"
      ]
    }
  ]
}

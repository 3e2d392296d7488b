// fewstep's N-API addon over libtorch: handles and their type tags, per-instance state, errors,
// threads, metadata, registration.
// The ops themselves live in creation.cc, ops.cc, autograd.cc and optim.cc.
#include "handle.h"

#include <torch/version.h>

#include <cstdlib>
#include <memory>
#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace fewstep {

// Random 128-bit constants, one per kind of External (napi_type_tag_object, Node-API 8).
const napi_type_tag kTensorTag = {0x6d1f0a3c2b8e4f51ULL, 0x9a7c3e2d1b0f8a64ULL};
const napi_type_tag kGeneratorTag = {0x3b5e8c1d7a2f4e90ULL, 0xc4d2a1f0e9b87356ULL};

namespace {

struct Entry {
  std::string name;
  Body body;
};

// State of one addon instance: the main thread and every worker_thread that loads the addon get
// their own (napi_set_instance_data), so no JS value is shared across threads.
struct AddonData {
  // TorchError of this instance's JS realm, handed over by src/engine/native.ts at load.
  Napi::FunctionReference torchErrorClass;
  // Live tensors. Never freed (8 bytes per instance): at environment teardown Node runs the
  // instance-data finalizer and the Externals' finalizers in no set order, and each holder
  // decrements the count it was counted in.
  int64_t* liveCount = new int64_t(0);
  // The bindings' bodies (Define), freed with the instance.
  std::vector<std::unique_ptr<Entry>> entries;
};

AddonData& Instance(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

void FinalizeHolder(Napi::Env env, TensorHolder* holder) {
  Release(env, holder);
  delete holder;
}

// A live-or-disposed tensor holder; throws naming `where` for anything else.
TensorHolder* HolderAt(const Napi::Value& value, const std::string& where) {
  return UnwrapTagged<TensorHolder>(value, kTensorTag, where, "a tensor");
}

std::string ArgumentName(size_t index) { return "argument " + std::to_string(index); }
}  // namespace

int64_t LiveCount(Napi::Env env) { return *Instance(env).liveCount; }

std::string Describe(const Napi::Value& value) {
  if (value.IsExternal()) {
    auto external = value.As<Napi::External<void>>();
    if (external.CheckTypeTag(&kTensorTag)) return "a tensor";
    if (external.CheckTypeTag(&kGeneratorTag)) return "a generator";
    return "an External fewstep did not make";
  }
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsBoolean()) return "a boolean";
  if (value.IsNumber()) return "a number";
  if (value.IsBigInt()) return "a bigint";
  if (value.IsString()) return "a string";
  if (value.IsSymbol()) return "a symbol";
  if (value.IsArray()) return "an array";
  if (value.IsTypedArray()) return "a typed array";
  if (value.IsFunction()) return "a function";
  return "an object";
}

void Release(Napi::Env env, TensorHolder* holder) {
  if (!holder->live) return;
  holder->live = false;
  holder->tensor = at::Tensor();
  *holder->liveCount -= 1;
  if (holder->accountedBytes != 0) {
    int64_t ignored = 0;
    napi_adjust_external_memory(env, -holder->accountedBytes, &ignored);
    holder->accountedBytes = 0;
  }
}

Napi::Value Wrap(Napi::Env env, at::Tensor tensor) {
  auto* holder = new TensorHolder();
  holder->tensor = std::move(tensor);
  holder->liveCount = Instance(env).liveCount;
  *holder->liveCount += 1;
  auto external = Napi::External<TensorHolder>::New(env, holder, FinalizeHolder);
  external.TypeTag(&kTensorTag);
  return external;
}

at::Tensor& Unwrap(const Napi::CallbackInfo& info, size_t index, const char* op) {
  auto* holder = HolderAt(info[index], ArgumentName(index));
  if (!holder->live) {
    throw std::invalid_argument("a tensor passed to it was disposed; keep() it or create it outside the scope that disposed it");
  }
  return holder->tensor;
}

bool IsNullish(const Napi::Value& value) { return value.IsUndefined() || value.IsNull(); }

at::Tensor UnwrapOptional(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (index >= info.Length() || IsNullish(info[index])) return at::Tensor();
  return Unwrap(info, index, op);
}

std::vector<at::Tensor> UnwrapList(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsArray()) throw std::invalid_argument("expected an array of tensors");
  auto array = info[index].As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    auto* holder = HolderAt(array.Get(i), "element " + std::to_string(i) + " of the tensor list");
    if (!holder->live) throw std::invalid_argument("element " + std::to_string(i) + " of the tensor list was disposed");
    out.push_back(holder->tensor);
  }
  return out;
}

Napi::Array WrapList(Napi::Env env, const std::vector<at::Tensor>& tensors) {
  auto array = Napi::Array::New(env, tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) array.Set(static_cast<uint32_t>(i), Wrap(env, tensors[i]));
  return array;
}

std::vector<int64_t> IntList(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsArray()) throw std::invalid_argument("argument " + std::to_string(index) + " must be an array of integers");
  auto array = info[index].As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) out[i] = array.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

int64_t Int(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsNumber()) throw std::invalid_argument("argument " + std::to_string(index) + " must be a number");
  return info[index].As<Napi::Number>().Int64Value();
}

double Number(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (!info[index].IsNumber()) throw std::invalid_argument("argument " + std::to_string(index) + " must be a number");
  return info[index].As<Napi::Number>().DoubleValue();
}

bool Bool(const Napi::CallbackInfo& info, size_t index, const char* op) { return info[index].ToBoolean().Value(); }

// dtype codes shared with src/engine/dtype.ts
at::ScalarType DType(const Napi::CallbackInfo& info, size_t index, const char* op) {
  switch (Int(info, index, op)) {
    case 0: return at::kFloat;
    case 1: return at::kDouble;
    case 2: return at::kLong;
    case 3: return at::kBool;
    case 4: return at::kBFloat16;
    case 5: return at::kHalf;
    case 6: return at::kByte;
    case 7: return at::kInt;
    default: throw std::invalid_argument("unknown dtype code");
  }
}

int DTypeCode(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return 0;
    case at::kDouble: return 1;
    case at::kLong: return 2;
    case at::kBool: return 3;
    case at::kBFloat16: return 4;
    case at::kHalf: return 5;
    case at::kByte: return 6;
    case at::kInt: return 7;
    default: return -1;
  }
}

at::Device Device(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (index >= info.Length() || IsNullish(info[index])) return at::Device(at::kCPU);
  return at::Device(info[index].As<Napi::String>().Utf8Value());
}

Napi::Value Guard(const Napi::CallbackInfo& info, const char* op, const std::function<Napi::Value()>& body) {
  Napi::Env env = info.Env();
  std::string message;
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown native exception";
  }
  Napi::FunctionReference& torchErrorClass = Instance(env).torchErrorClass;
  if (!torchErrorClass.IsEmpty()) {
    Napi::Object error = torchErrorClass.New({Napi::String::New(env, message), Napi::String::New(env, op)});
    throw Napi::Error(env, error);
  }
  throw Napi::Error::New(env, std::string(op) + ": " + message);
}

void Define(Napi::Env env, Napi::Object exports, const char* name, Body body) {
  auto& entries = Instance(env).entries;
  entries.push_back(std::make_unique<Entry>(Entry{name, std::move(body)}));
  Entry* entry = entries.back().get();  // lives as long as this addon instance
  exports.Set(name, Napi::Function::New(
                        env,
                        [](const Napi::CallbackInfo& info) -> Napi::Value {
                          auto* e = static_cast<Entry*>(info.Data());
                          return Guard(info, e->name.c_str(), [&]() { return e->body(info); });
                        },
                        name, entry));
}

namespace {

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "setErrorClass", [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (!info[0].IsFunction()) throw std::invalid_argument("argument 0 is " + Describe(info[0]) + ", expected the TorchError class");
    Instance(info.Env()).torchErrorClass = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  });
  Define(env, exports, "liveCount", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), static_cast<double>(LiveCount(info.Env())));
  });
  Define(env, exports, "setNumThreads", [](const Napi::CallbackInfo& info) -> Napi::Value {
    int64_t n = Int(info, 0, "setNumThreads");
    if (n < 1) throw std::invalid_argument("thread count must be at least 1");
    at::set_num_threads(static_cast<int>(n));
    return info.Env().Undefined();
  });
  // TF32 (10-bit mantissa) matrix products and convolutions on Ampere+ GPUs. libtorch's defaults:
  // on for cuDNN convolutions, off for cuBLAS matmul. No effect on CPU tensors.
  Define(env, exports, "setAllowTF32", [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsBoolean() || !info[1].IsBoolean()) throw std::invalid_argument("setAllowTF32: expected two booleans (cudnn, cublas)");
    at::globalContext().setAllowTF32CuDNN(info[0].As<Napi::Boolean>().Value());
    at::globalContext().setAllowTF32CuBLAS(info[1].As<Napi::Boolean>().Value());
    return info.Env().Undefined();
  });
  Define(env, exports, "getAllowTF32", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("cudnn", at::globalContext().allowTF32CuDNN());
    out.Set("cublas", at::globalContext().allowTF32CuBLAS());
    return out;
  });
  Define(env, exports, "getNumThreads", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), at::get_num_threads());
  });
  Define(env, exports, "torchVersion", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::String::New(info.Env(), TORCH_VERSION);
  });
  Define(env, exports, "cudaAvailable", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Boolean::New(info.Env(), at::hasCUDA());
  });
  Define(env, exports, "manualSeed", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::manual_seed(static_cast<uint64_t>(Int(info, 0, "manualSeed")));
    return info.Env().Undefined();
  });
  Define(env, exports, "dispose", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Release(info.Env(), HolderAt(info[0], ArgumentName(0)));
    return info.Env().Undefined();
  });
  // trackExternal(t): tells V8 about t's CPU bytes, so GC pressure finalizes forgotten tensors.
  // Called only for tensors no scope owns: reporting scoped temporaries (freed deterministically)
  // made V8 start concurrent marking every few steps, and its GC threads stalled libtorch's
  // OpenMP regions (measured: +15% on a conv-net step). Views count their base's size: an
  // overestimate that is fine for a safety net.
  Define(env, exports, "trackExternal", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto* holder = HolderAt(info[0], ArgumentName(0));
    if (holder->live && holder->accountedBytes == 0 && holder->tensor.defined() && holder->tensor.device().is_cpu()) {
      holder->accountedBytes = static_cast<int64_t>(holder->tensor.numel() * holder->tensor.element_size());
      int64_t ignored = 0;
      napi_adjust_external_memory(info.Env(), holder->accountedBytes, &ignored);
    }
    return info.Env().Undefined();
  });
  Define(env, exports, "isLive", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Boolean::New(info.Env(), HolderAt(info[0], ArgumentName(0))->live);
  });
  // Metadata in one call: [dtypeCode, device, requiresGrad, ...shape]
  Define(env, exports, "meta", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "meta");
    auto out = Napi::Array::New(info.Env(), 3 + t.dim());
    out.Set(0u, DTypeCode(t.scalar_type()));
    out.Set(1u, t.device().str());
    out.Set(2u, t.requires_grad());
    for (int64_t i = 0; i < t.dim(); ++i) out.Set(static_cast<uint32_t>(3 + i), Napi::Number::New(info.Env(), static_cast<double>(t.size(i))));
    return out;
  });
}

}  // namespace

}  // namespace fewstep

namespace {
// A training step frees its temporaries together when its scope ends. With glibc's dynamic
// thresholds the heap top is then trimmed back to the system and faulted in again next step
// (measured: +15-20% on a conv-net backward). Keeping freed memory in the process, as PyTorch's
// CUDA caching allocator does on the GPU, removes that cost. Off when the user set glibc's own
// MALLOC_*_ variables, or FEWSTEP_MALLOC_TUNING=0.
void TuneMalloc() {
#ifdef __GLIBC__
  const char* off = std::getenv("FEWSTEP_MALLOC_TUNING");
  if (off != nullptr && std::string(off) == "0") return;
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr || std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr) return;
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // tensors under 256 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // keep up to 1 GiB of freed heap for the next step
#endif
}
}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  TuneMalloc();
  env.SetInstanceData(new fewstep::AddonData());  // before Define, which keeps its entries there
  fewstep::RegisterRuntime(env, exports);
  fewstep::RegisterCreation(env, exports);
  fewstep::RegisterOps(env, exports);
  fewstep::RegisterAutograd(env, exports);
  fewstep::RegisterOptim(env, exports);
  return exports;
}

NODE_API_MODULE(fewstep, Init)

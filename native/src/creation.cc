// Tensor creation, host copies and seeded generators.
// Random numbers come from an explicit generator. A CPU generator draws on the CPU and the result
// moves to the device asked for, so a seed gives the same numbers on every run and on every device.
// A generator on a CUDA device draws there (no host draw, no copy): its numbers are CUDA's Philox
// stream, not the CPU's, so they differ from a CPU generator's for the same seed.
#include "handle.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/version.h>

#include <cstring>
#include <mutex>

namespace fewstep {

namespace {

struct GeneratorHolder {
  at::Generator generator;
};

at::Generator& UnwrapGenerator(const Napi::CallbackInfo& info, size_t index) {
  return UnwrapTagged<GeneratorHolder>(info[index], kGeneratorTag, "argument " + std::to_string(index), "a generator")->generator;
}

// A new, independent generator on `device` seeded with `seed`.
// CPU: libtorch's mt19937, the same stream as torch.Generator().manual_seed(seed).
// CUDA: a clone of the device's default Philox generator, reseeded (seed set, offset 0), as
// torch.Generator("cuda").manual_seed(seed) would be. Going through Context::defaultGenerator
// (ATen/Context.h, in libtorch 1.13 and 2.x alike) needs no CUDA header at compile time; the
// CUDA library implements the clone. (CUDAHooksInterface::getDefaultCUDAGenerator was renamed
// getDefaultGenerator in PyTorch 2.x, so it is not called directly.)
at::Generator NewGenerator(uint64_t seed, const at::Device& device) {
  if (device.is_cpu()) return at::detail::createCPUGenerator(seed);
  if (!device.is_cuda()) throw std::invalid_argument("generators live on the CPU or a CUDA device, not " + device.str());
  if (!at::hasCUDA()) {
    throw std::invalid_argument("a generator on " + device.str() + " needs a libtorch with CUDA and a visible GPU, but this addon runs on a CPU-only one (" TORCH_VERSION
                                "); rebuild it against a CUDA build (LIBTORCH=/path/to/libtorch or a Python with CUDA PyTorch, then npm run build:native), or use a CPU generator");
  }
  at::Generator base = at::globalContext().defaultGenerator(device);  // shares the default's state
  at::Generator gen;
  {
    std::lock_guard<std::mutex> lock(base.mutex());  // see ATen's Note [Acquire lock when using random generators]
    gen = base.clone();
  }
  gen.set_current_seed(seed);
  return gen;
}

// Where a draw runs and where its result goes. A CPU generator draws on the CPU and the result
// moves to `requested` (today's behaviour for every device). A generator on a device draws there,
// so `requested` must be that device; "cuda" without an index means the current CUDA device.
struct Placement {
  at::Device drawOn;
  at::Device result;
};

Placement PlaceDraw(const at::Generator& gen, const at::Device& requested) {
  at::Device genDevice = gen.device();
  if (genDevice.is_cpu()) return {at::Device(at::kCPU), requested};
  at::Device resolved = requested;
  if (resolved.type() == genDevice.type() && !resolved.has_index()) resolved = c10::impl::getDeviceGuardImpl(resolved.type())->getDevice();
  if (resolved != genDevice) {
    throw std::invalid_argument("the generator is on " + genDevice.str() + " but device " + requested.str() + " was asked for; omit device (a generator on a device draws there) or use a generator on " +
                                requested.str());
  }
  return {genDevice, genDevice};
}

at::TensorOptions Options(const Napi::CallbackInfo& info, size_t dtypeIndex, size_t deviceIndex, const char* op) {
  return at::TensorOptions().dtype(DType(info, dtypeIndex, op)).device(Device(info, deviceIndex, op));
}

at::Tensor OnDevice(at::Tensor t, const at::Device& device) { return t.device() == device ? t : t.to(device); }

}  // namespace

void RegisterCreation(Napi::Env env, Napi::Object exports) {
  // fromBuffer(bytes: Uint8Array, shape, dtype, device): copies the bytes (host order).
  Define(env, exports, "fromBuffer", [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (!info[0].IsTypedArray()) throw std::invalid_argument("data must be a typed array");
    auto array = info[0].As<Napi::TypedArray>();
    auto shape = IntList(info, 1, "fromBuffer");
    auto dtype = DType(info, 2, "fromBuffer");
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
    size_t bytes = t.numel() * t.element_size();
    if (array.ByteLength() != bytes) {
      throw std::invalid_argument("data has " + std::to_string(array.ByteLength()) + " bytes but shape and dtype need " + std::to_string(bytes));
    }
    auto* data = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    if (bytes > 0) std::memcpy(t.data_ptr(), data, bytes);
    return Wrap(info.Env(), OnDevice(t, Device(info, 3, "fromBuffer")));
  });
  // toBuffer(t): an ArrayBuffer with a contiguous host copy of the values.
  Define(env, exports, "toBuffer", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor t = Unwrap(info, 0, "toBuffer").detach().to(at::kCPU).contiguous();
    size_t bytes = t.numel() * t.element_size();
    auto buffer = Napi::ArrayBuffer::New(info.Env(), bytes);
    if (bytes > 0) std::memcpy(buffer.Data(), t.data_ptr(), bytes);
    return buffer;
  });
  Define(env, exports, "item", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "item");
    if (t.numel() != 1) throw std::invalid_argument("item() needs a tensor with one element, this one has " + std::to_string(t.numel()));
    if (t.scalar_type() == at::kBool) return Napi::Boolean::New(info.Env(), t.item<bool>());
    return Napi::Number::New(info.Env(), t.item<double>());
  });
  Define(env, exports, "zeros", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::zeros(IntList(info, 0, "zeros"), Options(info, 1, 2, "zeros")));
  });
  Define(env, exports, "ones", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::ones(IntList(info, 0, "ones"), Options(info, 1, 2, "ones")));
  });
  Define(env, exports, "full", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::full(IntList(info, 0, "full"), Number(info, 1, "full"), Options(info, 2, 3, "full")));
  });
  Define(env, exports, "arange", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::arange(Number(info, 0, "arange"), Number(info, 1, "arange"), Number(info, 2, "arange"), Options(info, 3, 4, "arange")));
  });
  Define(env, exports, "linspace", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::linspace(Number(info, 0, "linspace"), Number(info, 1, "linspace"), Int(info, 2, "linspace"), Options(info, 3, 4, "linspace")));
  });

  // Generators. generatorNew(seed, device = "cpu")
  Define(env, exports, "generatorNew", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto* holder = new GeneratorHolder{NewGenerator(static_cast<uint64_t>(Int(info, 0, "generatorNew")), Device(info, 1, "generatorNew"))};
    auto external = Napi::External<GeneratorHolder>::New(info.Env(), holder, [](Napi::Env, GeneratorHolder* h) { delete h; });
    external.TypeTag(&kGeneratorTag);
    return external;
  });
  // generatorDevice(g): "cpu" or "cuda:N" (an index is always there, as for a tensor's device).
  Define(env, exports, "generatorDevice", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::String::New(info.Env(), UnwrapGenerator(info, 0).device().str());
  });
  Define(env, exports, "generatorGetState", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Generator& gen = UnwrapGenerator(info, 0);
    std::lock_guard<std::mutex> lock(gen.mutex());
    return Wrap(info.Env(), gen.get_state());
  });
  Define(env, exports, "generatorSetState", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Generator& gen = UnwrapGenerator(info, 0);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(Unwrap(info, 1, "generatorSetState"));
    return info.Env().Undefined();
  });
  // rand(shape, gen, dtype, device), randn(...), randint(low, high, shape, gen, device),
  // randperm(n, gen, device); placement as in PlaceDraw.
  Define(env, exports, "rand", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Generator& gen = UnwrapGenerator(info, 1);
    Placement place = PlaceDraw(gen, Device(info, 3, "rand"));
    at::Tensor t = at::rand(IntList(info, 0, "rand"), gen, at::TensorOptions().dtype(DType(info, 2, "rand")).device(place.drawOn));
    return Wrap(info.Env(), OnDevice(t, place.result));
  });
  Define(env, exports, "randn", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Generator& gen = UnwrapGenerator(info, 1);
    Placement place = PlaceDraw(gen, Device(info, 3, "randn"));
    at::Tensor t = at::randn(IntList(info, 0, "randn"), gen, at::TensorOptions().dtype(DType(info, 2, "randn")).device(place.drawOn));
    return Wrap(info.Env(), OnDevice(t, place.result));
  });
  Define(env, exports, "randint", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Generator& gen = UnwrapGenerator(info, 3);
    Placement place = PlaceDraw(gen, Device(info, 4, "randint"));
    at::Tensor t = at::randint(Int(info, 0, "randint"), Int(info, 1, "randint"), IntList(info, 2, "randint"), gen, at::TensorOptions().dtype(at::kLong).device(place.drawOn));
    return Wrap(info.Env(), OnDevice(t, place.result));
  });
  Define(env, exports, "randperm", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Generator& gen = UnwrapGenerator(info, 1);
    Placement place = PlaceDraw(gen, Device(info, 2, "randperm"));
    at::Tensor t = at::randperm(Int(info, 0, "randperm"), gen, at::TensorOptions().dtype(at::kLong).device(place.drawOn));
    return Wrap(info.Env(), OnDevice(t, place.result));
  });
}

}  // namespace fewstep

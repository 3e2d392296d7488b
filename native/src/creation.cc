// Tensor creation, host copies and seeded generators.
// Random numbers are always drawn on the CPU from an explicit generator and then moved, so a
// seed gives the same numbers on every run and on every device.
#include "handle.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cstring>

namespace fewstep {

namespace {

struct GeneratorHolder {
  at::Generator generator;
};

at::Generator& UnwrapGenerator(const Napi::CallbackInfo& info, size_t index) {
  return UnwrapTagged<GeneratorHolder>(info[index], kGeneratorTag, "argument " + std::to_string(index), "a generator")->generator;
}

at::TensorOptions Options(const Napi::CallbackInfo& info, size_t dtypeIndex, size_t deviceIndex, const char* op) {
  return at::TensorOptions().dtype(DType(info, dtypeIndex, op)).device(Device(info, deviceIndex, op));
}

at::Tensor OnDevice(at::Tensor t, const at::Device& device) { return device.is_cpu() ? t : t.to(device); }

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

  // Generators
  Define(env, exports, "generatorNew", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto* holder = new GeneratorHolder{at::detail::createCPUGenerator(static_cast<uint64_t>(Int(info, 0, "generatorNew")))};
    auto external = Napi::External<GeneratorHolder>::New(info.Env(), holder, [](Napi::Env, GeneratorHolder* h) { delete h; });
    external.TypeTag(&kGeneratorTag);
    return external;
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
  // rand(shape, gen, dtype, device), randn(...), randint(low, high, shape, gen, device)
  Define(env, exports, "rand", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor t = at::rand(IntList(info, 0, "rand"), UnwrapGenerator(info, 1), at::TensorOptions().dtype(DType(info, 2, "rand")));
    return Wrap(info.Env(), OnDevice(t, Device(info, 3, "rand")));
  });
  Define(env, exports, "randn", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor t = at::randn(IntList(info, 0, "randn"), UnwrapGenerator(info, 1), at::TensorOptions().dtype(DType(info, 2, "randn")));
    return Wrap(info.Env(), OnDevice(t, Device(info, 3, "randn")));
  });
  Define(env, exports, "randint", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor t = at::randint(Int(info, 0, "randint"), Int(info, 1, "randint"), IntList(info, 2, "randint"), UnwrapGenerator(info, 3),
                               at::TensorOptions().dtype(at::kLong));
    return Wrap(info.Env(), OnDevice(t, Device(info, 4, "randint")));
  });
  Define(env, exports, "randperm", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor t = at::randperm(Int(info, 0, "randperm"), UnwrapGenerator(info, 1), at::TensorOptions().dtype(at::kLong));
    return Wrap(info.Env(), OnDevice(t, Device(info, 2, "randperm")));
  });
}

}  // namespace fewstep

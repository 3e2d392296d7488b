// Tensor handles and argument helpers shared by every binding file.
// A JS tensor holds a Napi::External<TensorHolder>. Release is deterministic: dispose() drops the
// at::Tensor at once; the External's finalizer only frees the small holder (and the tensor if it
// was never disposed: the safety net of DESIGN.md section 3).
// Every External the addon hands out carries a napi_type_tag (kTensorTag, kGeneratorTag), and
// every unwrap checks it: a generator where a tensor belongs, a plain object, or another addon's
// External is an error naming what came, never a misread pointer.
#pragma once

#include <napi.h>
#include <torch/torch.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace fewstep {

struct TensorHolder {
  at::Tensor tensor;
  bool live = true;
  int64_t accountedBytes = 0;  // what napi_adjust_external_memory was told
  int64_t* liveCount = nullptr;  // the creating addon instance's count (see AddonData in addon.cc)
};

extern const napi_type_tag kTensorTag;
extern const napi_type_tag kGeneratorTag;

// What a JS value is, for error messages: "a tensor", "a generator", "an object", "a number", ...
std::string Describe(const Napi::Value& value);

// The holder behind an External tagged `tag`; otherwise throws "<where> is <what came>, expected <expected>".
template <typename Holder>
Holder* UnwrapTagged(const Napi::Value& value, const napi_type_tag& tag, const std::string& where, const char* expected) {
  if (!value.IsExternal() || !value.As<Napi::External<Holder>>().CheckTypeTag(&tag)) {
    throw std::invalid_argument(where + " is " + Describe(value) + ", expected " + expected);
  }
  return value.As<Napi::External<Holder>>().Data();
}

// Number of live (not disposed, not finalized) tensors of this addon instance (this thread's
// Node environment): tests assert it stays flat.
int64_t LiveCount(Napi::Env env);

Napi::Value Wrap(Napi::Env env, at::Tensor tensor);
// Throws naming the argument when it is not a live tensor handle.
at::Tensor& Unwrap(const Napi::CallbackInfo& info, size_t index, const char* op);
bool IsNullish(const Napi::Value& value);
// Optional tensor: undefined/null gives an undefined at::Tensor.
at::Tensor UnwrapOptional(const Napi::CallbackInfo& info, size_t index, const char* op);
std::vector<at::Tensor> UnwrapList(const Napi::CallbackInfo& info, size_t index, const char* op);
Napi::Array WrapList(Napi::Env env, const std::vector<at::Tensor>& tensors);
void Release(Napi::Env env, TensorHolder* holder);

std::vector<int64_t> IntList(const Napi::CallbackInfo& info, size_t index, const char* op);
int64_t Int(const Napi::CallbackInfo& info, size_t index, const char* op);
double Number(const Napi::CallbackInfo& info, size_t index, const char* op);
bool Bool(const Napi::CallbackInfo& info, size_t index, const char* op);
at::ScalarType DType(const Napi::CallbackInfo& info, size_t index, const char* op);
int DTypeCode(at::ScalarType type);
at::Device Device(const Napi::CallbackInfo& info, size_t index, const char* op);

// Runs body and turns every C++ exception (c10::Error from libtorch, std::exception) into a JS
// TorchError carrying libtorch's message and the op name: no abort, the process goes on.
Napi::Value Guard(const Napi::CallbackInfo& info, const char* op, const std::function<Napi::Value()>& body);

// Registration helper: exports[name] = function whose body runs under Guard.
using Body = std::function<Napi::Value(const Napi::CallbackInfo&)>;
void Define(Napi::Env env, Napi::Object exports, const char* name, Body body);

void RegisterCreation(Napi::Env env, Napi::Object exports);
void RegisterOps(Napi::Env env, Napi::Object exports);
void RegisterAutograd(Napi::Env env, Napi::Object exports);
void RegisterOptim(Napi::Env env, Napi::Object exports);

}  // namespace fewstep

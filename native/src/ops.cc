// Tensor ops: one uniform shape per op family (unary, binary, reduction, nn, shape), PyTorch names.
// Argument order follows PyTorch's; optional tensors may be null/undefined; `dims` may be null
// for "all dims".
#include "handle.h"

namespace fewstep {

namespace {

using Unary = at::Tensor (*)(const at::Tensor&);

// A JS number becomes an integer Scalar when it is one, so int64 tensors stay int64 (as in PyTorch).
at::Scalar ToScalar(const Napi::Value& value) {
  double v = value.As<Napi::Number>().DoubleValue();
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9007199254740992.0) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

c10::optional<at::Scalar> OptionalScalar(const Napi::CallbackInfo& info, size_t index) {
  if (index >= info.Length() || IsNullish(info[index])) return c10::nullopt;
  return ToScalar(info[index]);
}

// Operand that may be a tensor or a number; numbers become 0-dim tensors of the other side's
// dtype and device, which type promotion treats like PyTorch's wrapped numbers.
at::Tensor Operand(const Napi::CallbackInfo& info, size_t index, const at::Tensor& like, const char* op) {
  if (info[index].IsNumber()) {
    return at::scalar_tensor(ToScalar(info[index]), at::TensorOptions().dtype(like.scalar_type()).device(like.device()));
  }
  return Unwrap(info, index, op);
}

// Both sides of a binary op; at most one may be a number.
std::pair<at::Tensor, at::Tensor> Operands(const Napi::CallbackInfo& info, const char* op) {
  if (info[0].IsNumber()) {
    at::Tensor b = Unwrap(info, 1, op);
    return {Operand(info, 0, b, op), b};
  }
  at::Tensor a = Unwrap(info, 0, op);
  return {a, Operand(info, 1, a, op)};
}

c10::optional<std::vector<int64_t>> OptionalDims(const Napi::CallbackInfo& info, size_t index, const char* op) {
  if (index >= info.Length() || IsNullish(info[index])) return c10::nullopt;
  if (info[index].IsNumber()) return std::vector<int64_t>{Int(info, index, op)};
  return IntList(info, index, op);
}

template <typename Fn>
void DefineBinary(Napi::Env env, Napi::Object exports, const char* name, Fn fn) {
  Define(env, exports, name, [name, fn](const Napi::CallbackInfo& info) -> Napi::Value {
    auto [a, b] = Operands(info, name);
    return Wrap(info.Env(), fn(a, b));
  });
}

// A binary op with a Scalar overload: avoids a 0-dim tensor allocation for the common `x * 0.5`.
template <typename FnT, typename FnS>
void DefineBinaryScalar(Napi::Env env, Napi::Object exports, const char* name, FnT tensorFn, FnS scalarFn) {
  Define(env, exports, name, [name, tensorFn, scalarFn](const Napi::CallbackInfo& info) -> Napi::Value {
    if (info[1].IsNumber() && !info[0].IsNumber()) return Wrap(info.Env(), scalarFn(Unwrap(info, 0, name), ToScalar(info[1])));
    auto [a, b] = Operands(info, name);
    return Wrap(info.Env(), tensorFn(a, b));
  });
}

void RegisterElementwise(Napi::Env env, Napi::Object exports) {
  DefineBinaryScalar(env, exports, "add", [](const at::Tensor& a, const at::Tensor& b) { return at::add(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::add(a, b); });
  DefineBinaryScalar(env, exports, "sub", [](const at::Tensor& a, const at::Tensor& b) { return at::sub(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::sub(a, b); });
  DefineBinaryScalar(env, exports, "mul", [](const at::Tensor& a, const at::Tensor& b) { return at::mul(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::mul(a, b); });
  DefineBinaryScalar(env, exports, "div", [](const at::Tensor& a, const at::Tensor& b) { return at::div(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::div(a, b); });
  DefineBinaryScalar(env, exports, "pow", [](const at::Tensor& a, const at::Tensor& b) { return at::pow(a, b); },
                     [](const at::Tensor& a, const at::Scalar& b) { return at::pow(a, b); });
  DefineBinary(env, exports, "maximum", [](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); });
  DefineBinary(env, exports, "minimum", [](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); });
  DefineBinary(env, exports, "atan2", [](const at::Tensor& a, const at::Tensor& b) { return at::atan2(a, b); });
  DefineBinary(env, exports, "eq", [](const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b); });
  DefineBinary(env, exports, "ne", [](const at::Tensor& a, const at::Tensor& b) { return at::ne(a, b); });
  DefineBinary(env, exports, "lt", [](const at::Tensor& a, const at::Tensor& b) { return at::lt(a, b); });
  DefineBinary(env, exports, "le", [](const at::Tensor& a, const at::Tensor& b) { return at::le(a, b); });
  DefineBinary(env, exports, "gt", [](const at::Tensor& a, const at::Tensor& b) { return at::gt(a, b); });
  DefineBinary(env, exports, "ge", [](const at::Tensor& a, const at::Tensor& b) { return at::ge(a, b); });
  DefineBinary(env, exports, "logicalAnd", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_and(a, b); });
  DefineBinary(env, exports, "logicalOr", [](const at::Tensor& a, const at::Tensor& b) { return at::logical_or(a, b); });

  static const std::pair<const char*, Unary> unary[] = {
      {"neg", [](const at::Tensor& t) { return at::neg(t); }},
      {"abs", [](const at::Tensor& t) { return at::abs(t); }},
      {"exp", [](const at::Tensor& t) { return at::exp(t); }},
      {"expm1", [](const at::Tensor& t) { return at::expm1(t); }},
      {"log", [](const at::Tensor& t) { return at::log(t); }},
      {"log1p", [](const at::Tensor& t) { return at::log1p(t); }},
      {"sqrt", [](const at::Tensor& t) { return at::sqrt(t); }},
      {"rsqrt", [](const at::Tensor& t) { return at::rsqrt(t); }},
      {"square", [](const at::Tensor& t) { return at::square(t); }},
      {"sin", [](const at::Tensor& t) { return at::sin(t); }},
      {"cos", [](const at::Tensor& t) { return at::cos(t); }},
      {"tan", [](const at::Tensor& t) { return at::tan(t); }},
      {"atan", [](const at::Tensor& t) { return at::atan(t); }},
      {"tanh", [](const at::Tensor& t) { return at::tanh(t); }},
      {"sigmoid", [](const at::Tensor& t) { return at::sigmoid(t); }},
      {"relu", [](const at::Tensor& t) { return at::relu(t); }},
      {"silu", [](const at::Tensor& t) { return at::silu(t); }},
      {"sign", [](const at::Tensor& t) { return at::sign(t); }},
      {"floor", [](const at::Tensor& t) { return at::floor(t); }},
      {"ceil", [](const at::Tensor& t) { return at::ceil(t); }},
      {"round", [](const at::Tensor& t) { return at::round(t); }},
      {"erf", [](const at::Tensor& t) { return at::erf(t); }},
      {"logicalNot", [](const at::Tensor& t) { return at::logical_not(t); }},
      {"isnan", [](const at::Tensor& t) { return at::isnan(t); }},
      {"isfinite", [](const at::Tensor& t) { return at::isfinite(t); }},
      {"contiguous", [](const at::Tensor& t) { return t.contiguous(); }},
      {"clone", [](const at::Tensor& t) { return t.clone(); }},
      {"detach", [](const at::Tensor& t) { return t.detach(); }},
  };
  for (const auto& [name, fn] : unary) {
    Unary f = fn;
    const char* n = name;
    Define(env, exports, name, [f, n](const Napi::CallbackInfo& info) -> Napi::Value { return Wrap(info.Env(), f(Unwrap(info, 0, n))); });
  }

  Define(env, exports, "gelu", [](const Napi::CallbackInfo& info) -> Napi::Value {
    std::string approximate = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "none";
    return Wrap(info.Env(), at::gelu(Unwrap(info, 0, "gelu"), approximate));
  });
  Define(env, exports, "softplus", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::softplus(Unwrap(info, 0, "softplus"), Number(info, 1, "softplus"), Number(info, 2, "softplus")));
  });
  Define(env, exports, "clamp", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto lo = OptionalScalar(info, 1);
    auto hi = OptionalScalar(info, 2);
    return Wrap(info.Env(), at::clamp(Unwrap(info, 0, "clamp"), lo, hi));
  });
  Define(env, exports, "where", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor cond = Unwrap(info, 0, "where");
    if (info[1].IsNumber() && info[2].IsNumber()) {
      throw std::invalid_argument("where needs at least one tensor among its two value arguments");
    }
    at::Tensor a = info[1].IsNumber() ? Operand(info, 1, Unwrap(info, 2, "where"), "where") : Unwrap(info, 1, "where");
    at::Tensor b = Operand(info, 2, a, "where");
    return Wrap(info.Env(), at::where(cond, a, b));
  });
  Define(env, exports, "to", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "to");
    return Wrap(info.Env(), t.to(Device(info, 2, "to"), DType(info, 1, "to")));
  });
}

void RegisterReductions(Napi::Env env, Napi::Object exports) {
  // sum/mean(t, dims|null, keepdim)
  Define(env, exports, "sum", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "sum");
    auto dims = OptionalDims(info, 1, "sum");
    return Wrap(info.Env(), dims ? at::sum(t, *dims, Bool(info, 2, "sum")) : at::sum(t));
  });
  Define(env, exports, "mean", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "mean");
    auto dims = OptionalDims(info, 1, "mean");
    return Wrap(info.Env(), dims ? at::mean(t, *dims, Bool(info, 2, "mean")) : at::mean(t));
  });
  // max/min/argmax/argmin(t, dim|null, keepdim): values only; null reduces everything.
  Define(env, exports, "max", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "max");
    if (IsNullish(info[1])) return Wrap(info.Env(), at::max(t));
    return Wrap(info.Env(), std::get<0>(at::max(t, Int(info, 1, "max"), Bool(info, 2, "max"))));
  });
  Define(env, exports, "min", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "min");
    if (IsNullish(info[1])) return Wrap(info.Env(), at::min(t));
    return Wrap(info.Env(), std::get<0>(at::min(t, Int(info, 1, "min"), Bool(info, 2, "min"))));
  });
  Define(env, exports, "argmax", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "argmax");
    c10::optional<int64_t> dim = IsNullish(info[1]) ? c10::nullopt : c10::optional<int64_t>(Int(info, 1, "argmax"));
    return Wrap(info.Env(), at::argmax(t, dim, Bool(info, 2, "argmax")));
  });
  // var/std(t, dims|null, unbiased, keepdim)
  Define(env, exports, "var", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "var");
    auto dims = OptionalDims(info, 1, "var");
    at::OptionalIntArrayRef ref = dims ? at::OptionalIntArrayRef(*dims) : c10::nullopt;
    return Wrap(info.Env(), at::var(t, ref, Bool(info, 2, "var"), Bool(info, 3, "var")));
  });
  Define(env, exports, "std", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "std");
    auto dims = OptionalDims(info, 1, "std");
    at::OptionalIntArrayRef ref = dims ? at::OptionalIntArrayRef(*dims) : c10::nullopt;
    return Wrap(info.Env(), at::std(t, ref, Bool(info, 2, "std"), Bool(info, 3, "std")));
  });
  // norm(t, p, dims|null, keepdim)
  Define(env, exports, "norm", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "norm");
    at::Scalar p = Number(info, 1, "norm");
    auto dims = OptionalDims(info, 2, "norm");
    return Wrap(info.Env(), dims ? at::norm(t, p, *dims, Bool(info, 3, "norm")) : at::norm(t, p));
  });
  Define(env, exports, "logsumexp", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::logsumexp(Unwrap(info, 0, "logsumexp"), IntList(info, 1, "logsumexp"), Bool(info, 2, "logsumexp")));
  });
  Define(env, exports, "cumsum", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::cumsum(Unwrap(info, 0, "cumsum"), Int(info, 1, "cumsum")));
  });
}

void RegisterNn(Napi::Env env, Napi::Object exports) {
  DefineBinary(env, exports, "matmul", [](const at::Tensor& a, const at::Tensor& b) { return at::matmul(a, b); });
  Define(env, exports, "linear", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::linear(Unwrap(info, 0, "linear"), Unwrap(info, 1, "linear"), UnwrapOptional(info, 2, "linear")));
  });
  // conv2d(x, weight, bias?, stride[2], padding[2], dilation[2], groups)
  Define(env, exports, "conv2d", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::conv2d(Unwrap(info, 0, "conv2d"), Unwrap(info, 1, "conv2d"), UnwrapOptional(info, 2, "conv2d"),
                                       IntList(info, 3, "conv2d"), IntList(info, 4, "conv2d"), IntList(info, 5, "conv2d"),
                                       Int(info, 6, "conv2d")));
  });
  // convTranspose2d(x, weight, bias?, stride[2], padding[2], outputPadding[2], groups, dilation[2])
  Define(env, exports, "convTranspose2d", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const char* n = "convTranspose2d";
    return Wrap(info.Env(), at::conv_transpose2d(Unwrap(info, 0, n), Unwrap(info, 1, n), UnwrapOptional(info, 2, n), IntList(info, 3, n),
                                                 IntList(info, 4, n), IntList(info, 5, n), Int(info, 6, n), IntList(info, 7, n)));
  });
  // upsampleNearest2d(x, [outH, outW])
  Define(env, exports, "upsampleNearest2d", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto size = IntList(info, 1, "upsampleNearest2d");
    return Wrap(info.Env(), at::upsample_nearest2d(Unwrap(info, 0, "upsampleNearest2d"), at::IntArrayRef(size)));
  });
  // avgPool2d(x, kernel[2], stride[2], padding[2])
  Define(env, exports, "avgPool2d", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::avg_pool2d(Unwrap(info, 0, "avgPool2d"), IntList(info, 1, "avgPool2d"), IntList(info, 2, "avgPool2d"),
                                           IntList(info, 3, "avgPool2d")));
  });
  // groupNorm(x, groups, weight?, bias?, eps)
  Define(env, exports, "groupNorm", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::group_norm(Unwrap(info, 0, "groupNorm"), Int(info, 1, "groupNorm"), UnwrapOptional(info, 2, "groupNorm"),
                                           UnwrapOptional(info, 3, "groupNorm"), Number(info, 4, "groupNorm")));
  });
  // layerNorm(x, normalizedShape, weight?, bias?, eps)
  Define(env, exports, "layerNorm", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::layer_norm(Unwrap(info, 0, "layerNorm"), IntList(info, 1, "layerNorm"), UnwrapOptional(info, 2, "layerNorm"),
                                           UnwrapOptional(info, 3, "layerNorm"), Number(info, 4, "layerNorm")));
  });
  Define(env, exports, "softmax", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::softmax(Unwrap(info, 0, "softmax"), Int(info, 1, "softmax")));
  });
  Define(env, exports, "logSoftmax", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::log_softmax(Unwrap(info, 0, "logSoftmax"), Int(info, 1, "logSoftmax")));
  });
  // embedding(weight, indices)
  Define(env, exports, "embedding", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::embedding(Unwrap(info, 0, "embedding"), Unwrap(info, 1, "embedding")));
  });
  Define(env, exports, "oneHot", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::one_hot(Unwrap(info, 0, "oneHot"), Int(info, 1, "oneHot")));
  });
}

void RegisterShape(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "cat", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::cat(UnwrapList(info, 0, "cat"), Int(info, 1, "cat")));
  });
  Define(env, exports, "stack", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::stack(UnwrapList(info, 0, "stack"), Int(info, 1, "stack")));
  });
  // split(t, size | sizes[], dim)
  Define(env, exports, "split", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "split");
    int64_t dim = Int(info, 2, "split");
    if (info[1].IsNumber()) return WrapList(info.Env(), at::split(t, Int(info, 1, "split"), dim));
    return WrapList(info.Env(), at::split_with_sizes(t, IntList(info, 1, "split"), dim));
  });
  Define(env, exports, "chunk", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return WrapList(info.Env(), at::chunk(Unwrap(info, 0, "chunk"), Int(info, 1, "chunk"), Int(info, 2, "chunk")));
  });
  Define(env, exports, "reshape", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::reshape(Unwrap(info, 0, "reshape"), IntList(info, 1, "reshape")));
  });
  Define(env, exports, "permute", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::permute(Unwrap(info, 0, "permute"), IntList(info, 1, "permute")));
  });
  Define(env, exports, "transpose", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::transpose(Unwrap(info, 0, "transpose"), Int(info, 1, "transpose"), Int(info, 2, "transpose")));
  });
  Define(env, exports, "expand", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), Unwrap(info, 0, "expand").expand(IntList(info, 1, "expand")));
  });
  Define(env, exports, "narrow", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::narrow(Unwrap(info, 0, "narrow"), Int(info, 1, "narrow"), Int(info, 2, "narrow"), Int(info, 3, "narrow")));
  });
  Define(env, exports, "select", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::select(Unwrap(info, 0, "select"), Int(info, 1, "select"), Int(info, 2, "select")));
  });
  Define(env, exports, "indexSelect", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::index_select(Unwrap(info, 0, "indexSelect"), Int(info, 1, "indexSelect"), Unwrap(info, 2, "indexSelect")));
  });
  Define(env, exports, "gather", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::gather(Unwrap(info, 0, "gather"), Int(info, 1, "gather"), Unwrap(info, 2, "gather")));
  });
  Define(env, exports, "squeeze", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& t = Unwrap(info, 0, "squeeze");
    return Wrap(info.Env(), IsNullish(info[1]) ? at::squeeze(t) : at::squeeze(t, Int(info, 1, "squeeze")));
  });
  Define(env, exports, "unsqueeze", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::unsqueeze(Unwrap(info, 0, "unsqueeze"), Int(info, 1, "unsqueeze")));
  });
  Define(env, exports, "flatten", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::flatten(Unwrap(info, 0, "flatten"), Int(info, 1, "flatten"), Int(info, 2, "flatten")));
  });
  Define(env, exports, "flip", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), at::flip(Unwrap(info, 0, "flip"), IntList(info, 1, "flip")));
  });
  Define(env, exports, "repeat", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Wrap(info.Env(), Unwrap(info, 0, "repeat").repeat(IntList(info, 1, "repeat")));
  });
}

// Linear algebra (torch.linalg). Multi-output ops return a JS array of handles, in PyTorch's order.
void RegisterLinalg(Napi::Env env, Napi::Object exports) {
  // linalgEigh(a) -> [eigenvalues (ascending), eigenvectors (columns)] of a symmetric matrix or
  // batch; only the lower triangle is read (UPLO "L", PyTorch's default).
  Define(env, exports, "linalgEigh", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto [values, vectors] = at::linalg_eigh(Unwrap(info, 0, "linalgEigh"));
    return WrapList(info.Env(), {values, vectors});
  });
}

// In-place updates, used by optimizers, EMA and data loading under no-grad.
void RegisterInPlace(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "copy_", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Unwrap(info, 0, "copy_").copy_(Unwrap(info, 1, "copy_"));
    return info.Env().Undefined();
  });
  Define(env, exports, "zero_", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Unwrap(info, 0, "zero_").zero_();
    return info.Env().Undefined();
  });
  Define(env, exports, "fill_", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Unwrap(info, 0, "fill_").fill_(ToScalar(info[1]));
    return info.Env().Undefined();
  });
  Define(env, exports, "mul_", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor& t = Unwrap(info, 0, "mul_");
    if (info[1].IsNumber()) t.mul_(ToScalar(info[1]));
    else t.mul_(Unwrap(info, 1, "mul_"));
    return info.Env().Undefined();
  });
  // add_(t, other, alpha): t += alpha * other
  Define(env, exports, "add_", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor& t = Unwrap(info, 0, "add_");
    at::Scalar alpha = info.Length() > 2 && info[2].IsNumber() ? ToScalar(info[2]) : at::Scalar(1);
    if (info[1].IsNumber()) t.add_(ToScalar(info[1]), alpha);
    else t.add_(Unwrap(info, 1, "add_"), alpha);
    return info.Env().Undefined();
  });
}

}  // namespace

void RegisterOps(Napi::Env env, Napi::Object exports) {
  RegisterElementwise(env, exports);
  RegisterReductions(env, exports);
  RegisterNn(env, exports);
  RegisterShape(env, exports);
  RegisterLinalg(env, exports);
  RegisterInPlace(env, exports);
}

}  // namespace fewstep

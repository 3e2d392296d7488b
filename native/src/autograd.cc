// Autograd: requires-grad flags, backward, gradients, and the grad mode behind noGrad().
#include "handle.h"

namespace fewstep {

void RegisterAutograd(Napi::Env env, Napi::Object exports) {
  Define(env, exports, "setRequiresGrad", [](const Napi::CallbackInfo& info) -> Napi::Value {
    Unwrap(info, 0, "setRequiresGrad").requires_grad_(Bool(info, 1, "setRequiresGrad"));
    return info.Env().Undefined();
  });
  // backward(t, gradient?, retainGraph)
  Define(env, exports, "backward", [](const Napi::CallbackInfo& info) -> Napi::Value {
    at::Tensor& t = Unwrap(info, 0, "backward");
    at::Tensor gradient = UnwrapOptional(info, 1, "backward");
    bool retain = info.Length() > 2 && Bool(info, 2, "backward");
    t.backward(gradient, retain);
    return info.Env().Undefined();
  });
  // grad(t): a new handle on t's gradient (shared storage), or null when there is none.
  Define(env, exports, "grad", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const at::Tensor& grad = Unwrap(info, 0, "grad").grad();
    if (!grad.defined()) return info.Env().Null();
    return Wrap(info.Env(), grad);
  });
  // zeroGrad(tensors): drops the gradients (PyTorch's set_to_none), so the next backward writes fresh ones.
  Define(env, exports, "zeroGrad", [](const Napi::CallbackInfo& info) -> Napi::Value {
    for (auto& t : UnwrapList(info, 0, "zeroGrad")) t.mutable_grad().reset();
    return info.Env().Undefined();
  });
  // setGradEnabled(flag): returns the previous mode, so noGrad() can restore it.
  Define(env, exports, "setGradEnabled", [](const Napi::CallbackInfo& info) -> Napi::Value {
    bool previous = at::GradMode::is_enabled();
    at::GradMode::set_enabled(Bool(info, 0, "setGradEnabled"));
    return Napi::Boolean::New(info.Env(), previous);
  });
  Define(env, exports, "isGradEnabled", [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled());
  });
}

}  // namespace fewstep

// Optimizer steps over lists of parameters, fused in C++ so a step is one N-API call.
// The formulas are PyTorch's own (torch/optim/adam.py, adamw.py, sgd.py, single-tensor path;
// torch/nn/utils/clip_grad.py), so a step matches PyTorch to float rounding.
#include "handle.h"

#include <cmath>

namespace fewstep {

namespace {

void CheckSameLength(size_t a, size_t b, const char* what) {
  if (a != b) throw std::invalid_argument(std::string(what) + ": " + std::to_string(a) + " parameters but " + std::to_string(b) + " state tensors");
}

}  // namespace

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  // adamStep(params, expAvg, expAvgSq, lr, beta1, beta2, eps, weightDecay, decoupled, step)
  // decoupled=false is Adam (L2 added to the gradient), true is AdamW.
  Define(env, exports, "adamStep", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const char* n = "adamStep";
    auto params = UnwrapList(info, 0, n);
    auto expAvg = UnwrapList(info, 1, n);
    auto expAvgSq = UnwrapList(info, 2, n);
    CheckSameLength(params.size(), expAvg.size(), n);
    CheckSameLength(params.size(), expAvgSq.size(), n);
    double lr = Number(info, 3, n), beta1 = Number(info, 4, n), beta2 = Number(info, 5, n), eps = Number(info, 6, n);
    double weightDecay = Number(info, 7, n);
    bool decoupled = Bool(info, 8, n);
    double step = Number(info, 9, n);
    at::NoGradGuard noGrad;
    double biasCorrection1 = 1 - std::pow(beta1, step);
    double biasCorrection2Sqrt = std::sqrt(1 - std::pow(beta2, step));
    double stepSize = lr / biasCorrection1;
    for (size_t i = 0; i < params.size(); ++i) {
      at::Tensor& param = params[i];
      at::Tensor grad = param.grad();
      if (!grad.defined()) continue;
      if (weightDecay != 0) {
        if (decoupled) param.mul_(1 - lr * weightDecay);
        else grad = grad.add(param, weightDecay);
      }
      expAvg[i].mul_(beta1).add_(grad, 1 - beta1);
      expAvgSq[i].mul_(beta2).addcmul_(grad, grad, 1 - beta2);
      at::Tensor denom = (expAvgSq[i].sqrt() / biasCorrection2Sqrt).add_(eps);
      param.addcdiv_(expAvg[i], denom, -stepSize);
    }
    return info.Env().Undefined();
  });
  // sgdStep(params, momentumBuffers, lr, momentum, dampening, weightDecay, nesterov, firstStep)
  Define(env, exports, "sgdStep", [](const Napi::CallbackInfo& info) -> Napi::Value {
    const char* n = "sgdStep";
    auto params = UnwrapList(info, 0, n);
    auto buffers = UnwrapList(info, 1, n);
    double lr = Number(info, 2, n), momentum = Number(info, 3, n), dampening = Number(info, 4, n), weightDecay = Number(info, 5, n);
    bool nesterov = Bool(info, 6, n), firstStep = Bool(info, 7, n);
    if (momentum != 0) CheckSameLength(params.size(), buffers.size(), n);
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < params.size(); ++i) {
      at::Tensor grad = params[i].grad();
      if (!grad.defined()) continue;
      if (weightDecay != 0) grad = grad.add(params[i], weightDecay);
      if (momentum != 0) {
        // PyTorch: the first step's buffer is the gradient itself (no dampening).
        if (firstStep) buffers[i].copy_(grad);
        else buffers[i].mul_(momentum).add_(grad, 1 - dampening);
        grad = nesterov ? grad.add(buffers[i], momentum) : buffers[i];
      }
      params[i].add_(grad, -lr);
    }
    return info.Env().Undefined();
  });
  // clipGradNorm(params, maxNorm): scales all gradients so their global 2-norm is at most
  // maxNorm; returns the norm before clipping as a 0-d tensor on the parameters' device. No
  // item(): reading it would wait for the GPU every step; the caller reads it when it reports.
  // No gradient at all: a 0-d zero like the first parameter (PyTorch returns torch.tensor(0.)).
  Define(env, exports, "clipGradNorm", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto params = UnwrapList(info, 0, "clipGradNorm");
    double maxNorm = Number(info, 1, "clipGradNorm");
    at::NoGradGuard noGrad;
    std::vector<at::Tensor> norms;
    for (auto& p : params) {
      if (p.grad().defined()) norms.push_back(at::norm(p.grad(), 2));
    }
    if (norms.empty()) return Wrap(info.Env(), at::zeros({}, params.empty() ? at::TensorOptions() : params[0].options()));
    at::Tensor total = at::norm(at::stack(norms), 2);
    at::Tensor coef = at::clamp(maxNorm / (total + 1e-6), c10::nullopt, 1.0);
    for (auto& p : params) {
      if (p.grad().defined()) p.mutable_grad().mul_(coef.to(p.grad().device()));
    }
    return Wrap(info.Env(), total);
  });
  // emaUpdate(averages, params, decay): average = decay * average + (1 - decay) * param
  Define(env, exports, "emaUpdate", [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto averages = UnwrapList(info, 0, "emaUpdate");
    auto params = UnwrapList(info, 1, "emaUpdate");
    CheckSameLength(params.size(), averages.size(), "emaUpdate");
    double decay = Number(info, 2, "emaUpdate");
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < params.size(); ++i) averages[i].mul_(decay).add_(params[i].detach(), 1 - decay);
    return info.Env().Undefined();
  });
}

}  // namespace fewstep

// Where a forward's time goes, by class of op: what `beit-bench --profile` reports, so work on the
// engine is steered by measurement on whatever CPU runs it.
//
// Contract:
// - Off by default; SetOpProfiling(true) turns it on for the process. While off, a ScopedOpTimer
//   costs one relaxed atomic load.
// - A ScopedOpTimer charges the wall time of its scope to its class, *exclusive* of scopes nested
//   inside it on the same thread (a Linear inside the classification head counts as a Linear
//   matmul, not as the head). oneDNN's CPU stream executes each primitive before execute()
//   returns (OpenMP runtime), so a scope around an execute() times that primitive.
// - Totals are process-wide sums over every thread that runs forwards; TakeOpProfile() returns
//   them in seconds and resets them. Profile one forward at a time for a breakdown of it.
#pragma once

#include <array>
#include <chrono>

namespace beit {

enum class OpClass {
  kLinearMatmul,        // oneDNN matmuls of the Linears (patch embedding and heads' Linears too)
  kAttention,           // scores, softmax and the probabilities-times-V product
  kLayerNorm,
  kEpilogue,            // bias, activation, residual and dequantisation passes outside a matmul
  kQuantize,            // rounding activations to s8 (int8) or to bf16 before a matmul
  kEmbeddingsAndHeads,  // patch and position embeddings, pooling, the heads' own ops
  kOther,               // the encoder's remaining work (position bias, copies, buffers)
  kCount
};

const char* OpClassName(OpClass op);  // "linear_matmul", "attention", ...

void SetOpProfiling(bool on);
bool OpProfiling();

using OpProfile = std::array<double, static_cast<int>(OpClass::kCount)>;  // seconds per class
OpProfile TakeOpProfile();

class ScopedOpTimer {
 public:
  explicit ScopedOpTimer(OpClass op);
  ~ScopedOpTimer();
  ScopedOpTimer(const ScopedOpTimer&) = delete;
  ScopedOpTimer& operator=(const ScopedOpTimer&) = delete;

 private:
  bool active_;
  OpClass op_;
  ScopedOpTimer* parent_ = nullptr;
  std::chrono::steady_clock::time_point since_;  // start of the stretch not yet charged
};

}  // namespace beit

#include "model/ops/op_profile.h"

#include <atomic>
#include <cstdint>

namespace beit {
namespace {

std::atomic<bool> profiling{false};
std::array<std::atomic<int64_t>, static_cast<int>(OpClass::kCount)> nanoseconds{};
thread_local ScopedOpTimer* innermost = nullptr;

void Charge(OpClass op, std::chrono::steady_clock::duration d) {
  nanoseconds[static_cast<int>(op)].fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(),
                                              std::memory_order_relaxed);
}

}  // namespace

const char* OpClassName(OpClass op) {
  switch (op) {
    case OpClass::kLinearMatmul: return "linear_matmul";
    case OpClass::kAttention: return "attention";
    case OpClass::kLayerNorm: return "layer_norm";
    case OpClass::kEpilogue: return "epilogue";
    case OpClass::kQuantize: return "quantize";
    case OpClass::kEmbeddingsAndHeads: return "embeddings_and_heads";
    default: return "other";
  }
}

void SetOpProfiling(bool on) { profiling.store(on, std::memory_order_relaxed); }
bool OpProfiling() { return profiling.load(std::memory_order_relaxed); }

OpProfile TakeOpProfile() {
  OpProfile seconds{};
  for (size_t i = 0; i < seconds.size(); ++i) seconds[i] = 1e-9 * double(nanoseconds[i].exchange(0));
  return seconds;
}

ScopedOpTimer::ScopedOpTimer(OpClass op) : active_(OpProfiling()), op_(op) {
  if (!active_) return;
  since_ = std::chrono::steady_clock::now();
  parent_ = innermost;
  if (parent_) {  // the enclosing scope's time so far is its own; it resumes when this one ends
    Charge(parent_->op_, since_ - parent_->since_);
  }
  innermost = this;
}

ScopedOpTimer::~ScopedOpTimer() {
  if (!active_) return;
  const auto now = std::chrono::steady_clock::now();
  Charge(op_, now - since_);
  innermost = parent_;
  if (parent_) parent_->since_ = now;
}

}  // namespace beit

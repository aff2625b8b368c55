#include "model/ops/precision.h"

namespace beit {
namespace {
thread_local Precision current_precision = Precision::kF32;
}  // namespace

ScopedPrecision::ScopedPrecision(Precision precision) : previous_(current_precision) {
  current_precision = precision;
}
ScopedPrecision::~ScopedPrecision() { current_precision = previous_; }

Precision ScopedPrecision::Current() { return current_precision; }

}  // namespace beit

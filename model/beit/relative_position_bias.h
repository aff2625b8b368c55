// BEiT's relative position bias (BeitRelativePositionBias), per layer or shared.
//
// Contract:
// - Built from relative_position_bias_table [(2Wh-1)(2Ww-1)+3, H] for the checkpoint's window
//   (Wh, Ww) = image_size / patch_size.
// - ForWindow(wh, ww) returns the bias [H, N, N], N = wh*ww + 1, that Transformers adds to the
//   attention scores for an input whose patch grid is wh x ww: the table's spatial part is
//   bilinearly resized from (2Wh-1, 2Ww-1) to (2wh-1, 2ww-1) (align_corners=False, Transformers'
//   own reshape order kept), the three CLS entries are kept, then gathered by relative offset.
//   The result is computed once per window and cached (thread-safe).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "model/tensor.h"

namespace beit {

class RelativePositionBias {
 public:
  RelativePositionBias(Tensor table, int64_t window_h, int64_t window_w, int64_t heads);

  const Tensor& ForWindow(int64_t wh, int64_t ww) const;

  static int64_t TableRows(int64_t window_h, int64_t window_w) {
    return (2 * window_h - 1) * (2 * window_w - 1) + 3;
  }

 private:
  Tensor Compute(int64_t wh, int64_t ww) const;

  Tensor table_;
  int64_t window_h_, window_w_, heads_;
  mutable std::mutex mu_;
  mutable std::map<std::pair<int64_t, int64_t>, std::unique_ptr<Tensor>> cache_;
};

}  // namespace beit

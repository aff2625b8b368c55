// Keeping freed memory in the process for the next forward pass.
//
// Contract: ReuseFreedMemory() makes glibc's malloc serve every allocation from its heap and never
// return freed memory to the kernel (M_MMAP_MAX = 0, M_TRIM_THRESHOLD = unlimited). Why: a
// segmentation forward at 640x640 allocates and frees tensors of 80-320 MB; by default glibc maps
// each afresh and the kernel zero-fills it page by page, about 14 % of a bf16 BEiT-base forward
// (bench/RESULTS.md). The price is that the process keeps its high-water mark of memory (which a
// container's limit has to allow for anyway). Process-wide: call once at startup, before other
// threads start. It does nothing when the operator has set MALLOC_MMAP_MAX_ or
// MALLOC_TRIM_THRESHOLD_ (glibc's own environment variables), so their choice wins. Returns
// whether it changed the policy.
#pragma once

namespace beit {

bool ReuseFreedMemory();

}  // namespace beit

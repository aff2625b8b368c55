// Keeping freed memory in the process for the next forward pass.
//
// Contract: ReuseFreedMemory() makes glibc's malloc serve every allocation, from every thread,
// out of its one main heap and never return freed memory to the kernel (M_MMAP_MAX = 0,
// M_TRIM_THRESHOLD = 2 GiB, M_ARENA_MAX = 1: a thread's own arena would still map blocks above
// 64 MB afresh). Why: a segmentation forward at 640x640 allocates and frees tensors of 80-320 MB;
// by default glibc maps each afresh and the kernel zero-fills it page by page, about 14 % of a
// bf16 BEiT-base forward (bench/RESULTS.md). The price: the process keeps its high-water mark of
// memory (which a container's limit has to allow for anyway), and threads share one arena (small
// allocations still go through each thread's lock-free cache). Process-wide: call once at startup,
// before other threads start. It does nothing when the operator has set glibc's own knobs
// (MALLOC_MMAP_MAX_, MALLOC_TRIM_THRESHOLD_, MALLOC_ARENA_MAX, or glibc.malloc tunables in
// GLIBC_TUNABLES), so their choice wins. Returns whether it changed the policy.
#pragma once

namespace beit {

bool ReuseFreedMemory();

// Gives the kernel back the free memory malloc keeps (malloc_trim), whatever the policy above:
// for the rare moments a large amount was freed for good, e.g. a model version unloaded.
void ReturnFreedMemory();

}  // namespace beit

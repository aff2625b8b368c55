#include "model/memory_reuse.h"

#include <malloc.h>

#include <cstdlib>
#include <limits>

namespace beit {

bool ReuseFreedMemory() {
  if (std::getenv("MALLOC_MMAP_MAX_") || std::getenv("MALLOC_TRIM_THRESHOLD_")) return false;
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1;
}

}  // namespace beit

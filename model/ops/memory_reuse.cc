#include "model/ops/memory_reuse.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>

namespace beit {

bool ReuseFreedMemory() {
  for (const char* knob : {"MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX"}) {
    if (std::getenv(knob)) return false;
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::strstr(tunables, "glibc.malloc.")) return false;
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1 &&
         mallopt(M_ARENA_MAX, 1) == 1;
}

void ReturnFreedMemory() { malloc_trim(0); }

}  // namespace beit

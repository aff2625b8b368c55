// ReuseFreedMemory: large blocks come from the heap instead of fresh mappings (so the next forward
// reuses pages the kernel need not zero again), and the operator's own glibc settings win.
#include "model/memory_reuse.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <memory>

namespace beit {
namespace {

constexpr size_t kLarge = size_t{100} << 20;  // well above glibc's 32 MB mmap threshold cap

// Sanitizers bring their own malloc, which ignores mallopt.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SKIP_UNDER_SANITIZERS() GTEST_SKIP() << "the sanitizer's allocator replaces glibc's"
#else
#define SKIP_UNDER_SANITIZERS() (void)0
#endif

TEST(MemoryReuse, LargeBlocksComeFromTheHeapAndAreReused) {
  SKIP_UNDER_SANITIZERS();
  {
    std::unique_ptr<char[]> before(new char[kLarge]);
    before[0] = 1;
    EXPECT_GE(mallinfo2().hblkhd, kLarge) << "by default glibc maps large blocks";
  }
  ASSERT_TRUE(ReuseFreedMemory());
  std::unique_ptr<char[]> first(new char[kLarge]);
  first[kLarge - 1] = 1;
  EXPECT_EQ(mallinfo2().hblkhd, 0u) << "a large block was still mapped on its own";
  const char* address = first.get();
  first.reset();
  std::unique_ptr<char[]> second(new char[kLarge]);
  EXPECT_EQ(second.get(), address) << "the freed block was not reused";
}

TEST(MemoryReuse, OperatorSettingWins) {
  SKIP_UNDER_SANITIZERS();
  setenv("MALLOC_TRIM_THRESHOLD_", "1000000", 1);
  EXPECT_FALSE(ReuseFreedMemory());
  std::unique_ptr<char[]> block(new char[kLarge]);
  block[0] = 1;
  EXPECT_GE(mallinfo2().hblkhd, kLarge);
}

}  // namespace
}  // namespace beit

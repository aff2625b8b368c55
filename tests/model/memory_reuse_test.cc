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

// Each case runs in a child process (the policy is process-wide, so order must not matter).
TEST(MemoryReuse, LargeBlocksComeFromTheHeapAndAreReused) {
  SKIP_UNDER_SANITIZERS();
  EXPECT_EXIT(
      {
        std::unique_ptr<char[]> before(new char[kLarge]);
        before[0] = 1;
        if (mallinfo2().hblkhd < kLarge) std::exit(1);  // by default glibc maps large blocks
        before.reset();
        if (!ReuseFreedMemory()) std::exit(2);
        std::unique_ptr<char[]> first(new char[kLarge]);
        first[kLarge - 1] = 1;
        if (mallinfo2().hblkhd != 0) std::exit(3);  // still mapped on its own
        const char* address = first.get();
        first.reset();
        std::unique_ptr<char[]> second(new char[kLarge]);
        std::exit(second.get() == address ? 0 : 4);  // the freed block is reused
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(MemoryReuse, OperatorSettingWins) {
  SKIP_UNDER_SANITIZERS();
  EXPECT_EXIT(
      {
        setenv("MALLOC_TRIM_THRESHOLD_", "1000000", 1);
        if (ReuseFreedMemory()) std::exit(1);
        std::unique_ptr<char[]> block(new char[kLarge]);
        block[0] = 1;
        std::exit(mallinfo2().hblkhd >= kLarge ? 0 : 2);  // glibc's default policy stands
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace beit

// ReuseFreedMemory: large blocks come from the heap instead of fresh mappings (so the next forward
// reuses pages the kernel need not zero again), and the operator's own glibc settings win.
#include "model/ops/memory_reuse.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <thread>

namespace beit {
namespace {

constexpr size_t kLarge = size_t{100} << 20;  // well above glibc's 32 MB mmap threshold cap

// Sanitizers bring their own malloc, which ignores mallopt.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SKIP_UNDER_SANITIZERS() GTEST_SKIP() << "the sanitizer's allocator replaces glibc's"
#else
#define SKIP_UNDER_SANITIZERS() (void)0
#endif

// malloc(kLarge) the compiler cannot elide: the block escapes and is written.
char* AllocateLarge() {
  char* p = static_cast<char*>(std::malloc(kLarge));
  p[0] = p[kLarge - 1] = 1;
  asm volatile("" : : "r"(p) : "memory");
  return p;
}

// Each case runs in a child process (the policy is process-wide, so order must not matter).
TEST(MemoryReuse, LargeBlocksComeFromTheHeapAndAreReused) {
  SKIP_UNDER_SANITIZERS();
  EXPECT_EXIT(
      {
        char* before = AllocateLarge();
        if (mallinfo2().hblkhd < kLarge) std::exit(1);  // by default glibc maps large blocks
        std::free(before);
        if (!ReuseFreedMemory()) std::exit(2);
        char* first = AllocateLarge();
        if (mallinfo2().hblkhd != 0) std::exit(3);  // still mapped on its own
        const auto address = reinterpret_cast<uintptr_t>(first);
        std::free(first);
        std::exit(reinterpret_cast<uintptr_t>(AllocateLarge()) == address ? 0 : 4);  // the freed block is reused
      },
      ::testing::ExitedWithCode(0), "");
}

// The server computes on its own threads, not the main one.
TEST(MemoryReuse, AlsoForOtherThreads) {
  SKIP_UNDER_SANITIZERS();
  EXPECT_EXIT(
      {
        if (!ReuseFreedMemory()) std::exit(1);
        int status = 0;
        std::thread([&] {
          char* first = AllocateLarge();
          if (mallinfo2().hblkhd != 0) status = 2;
          const auto address = reinterpret_cast<uintptr_t>(first);
          std::free(first);
          if (reinterpret_cast<uintptr_t>(AllocateLarge()) != address) status = 3;
        }).join();
        std::exit(status);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(MemoryReuse, OperatorSettingWins) {
  SKIP_UNDER_SANITIZERS();
  EXPECT_EXIT(
      {
        setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000", 1);
        if (ReuseFreedMemory()) std::exit(1);
        AllocateLarge();
        std::exit(mallinfo2().hblkhd >= kLarge ? 0 : 2);  // glibc's default policy stands
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace beit

// Refuses, in one line, a CPU below the build's x86-64-v3 baseline (AVX2, FMA, BMI2), before any
// code compiled for that baseline can run and die of SIGILL.
//
// This file alone is compiled for plain x86-64 (model/CMakeLists.txt) and linked as an object
// into every executable; its check runs as a constructor of the highest priority, ahead of the
// executable's other static initialisers (the shared libraries it loads are built for plain
// x86-64 and initialise first). Exit code 4. Nothing here on other architectures.
#if defined(__x86_64__) && defined(BEIT_REQUIRES_X86_64_V3)
#include <unistd.h>

#include <cstring>

namespace {

__attribute__((constructor(101))) void RefuseCpusBelowTheBaseline() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2")) return;
  static const char kMessage[] =
      "beit-serve: this CPU lacks AVX2, FMA or BMI2 (x86-64-v3), which this build requires; run it on a "
      "CPU with AVX2 or rebuild with -DBEIT_ARCH_FLAGS=-march=x86-64\n";
  // write(2), not stdio: nothing else has been set up yet.
  ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  (void)ignored;
  _exit(4);
}

}  // namespace
#endif

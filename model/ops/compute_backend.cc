#include "model/ops/compute_backend.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include <oneapi/dnnl/dnnl.hpp>

#include "model/ops/cpu_tier.h"
#include "model/ops/linear.h"

namespace beit {

std::string ComputeBackendVersion() {
  const dnnl::version_t* v = dnnl::version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

std::string ComputeBackendIsa() { return CpuTierName(EffectiveCpuTier()); }

int ComputeThreads() { return omp_get_max_threads(); }

void SetComputeThreads(int threads) { omp_set_num_threads(threads); }

double MeasureMatmulGflops(int m, int k, int n, double seconds, Precision precision) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dt in = LinearInputType(precision);
  const dnnl::memory::desc a_md({m, k}, in, tag::ab), c_md({m, n}, dt::f32, tag::ab);
  const dnnl::memory::desc b_any({k, n}, in, tag::any);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_any, c_md), engine);
  dnnl::memory a(a_md, engine), b(pd.weights_desc(), engine), c(c_md, engine);
  std::memset(a.get_data_handle(), 0, a_md.get_size());  // the values do not change the speed
  std::memset(b.get_data_handle(), 0, pd.weights_desc().get_size());
  dnnl::matmul matmul(pd);
  auto run = [&] {
    matmul.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
  };
  run();  // warm-up
  const auto start = std::chrono::steady_clock::now();
  int runs = 0;
  double elapsed = 0;
  do {
    run();
    ++runs;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return 2.0 * m * k * n * runs / elapsed * 1e-9;
}

}  // namespace beit

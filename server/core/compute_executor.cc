#include "server/core/compute_executor.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <exception>
#include <string>

#include <pthread.h>
#include <unistd.h>

#include "model/ops/compute_backend.h"

namespace beit::serving {

struct ComputeExecutor::Job {
  const std::function<void(int)>* work;
  std::exception_ptr error;
  bool done = false;
};

ComputeExecutor::ComputeExecutor(int instances, int threads_per_instance)
    : threads_per_instance_(threads_per_instance) {
  instances = std::max(1, instances);
  for (int i = 0; i < instances; ++i) {
    threads_.emplace_back([this, i] { Loop(i); });
    const std::string name = instances == 1 ? "beit-compute" : "beit-compute-" + std::to_string(i);
    pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
  }
}

ComputeExecutor::~ComputeExecutor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ComputeExecutor::Run(const std::function<void(int)>& work) {
  Job job{&work, nullptr, false};
  std::unique_lock<std::mutex> lock(mu_);
  jobs_.push_back(&job);
  cv_.notify_all();
  cv_.wait(lock, [&] { return job.done; });
  if (job.error) std::rethrow_exception(job.error);
}

void ComputeExecutor::RunOnEvery(const std::function<void(int)>& work) {
  // Each job holds its instance until all have started, so no instance takes two.
  std::lock_guard<std::mutex> one_at_a_time(every_mu_);
  const int n = instances();
  std::mutex mu;
  std::condition_variable all_started;
  int started = 0;
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::thread> callers;
  for (int c = 0; c < n; ++c) {
    callers.emplace_back([&, c] {
      try {
        Run([&](int instance) {
          {
            std::unique_lock<std::mutex> lock(mu);
            ++started;
            all_started.notify_all();
            all_started.wait(lock, [&] { return started == n; });
          }
          work(instance);
        });
      } catch (...) {
        errors[c] = std::current_exception();
      }
    });
  }
  for (std::thread& t : callers) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

void ComputeExecutor::Loop(int instance) {
  // This thread's own OpenMP team: the setting is per thread (OpenMP's nthreads-var ICV).
  if (threads_per_instance_ > 0) SetComputeThreads(threads_per_instance_);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, nothing left
    Job* job = jobs_.front();
    jobs_.pop_front();
    ++busy_;
    lock.unlock();
    try {
      (*job->work)(instance);
    } catch (...) {
      job->error = std::current_exception();
    }
    lock.lock();
    --busy_;
    job->done = true;
    cv_.notify_all();
  }
}

void RunOnOwnThread(const std::function<void()>& work, int threads) {
  std::exception_ptr error;
  std::thread([&] {
    try {
      if (threads > 0) SetComputeThreads(threads);
      work();
    } catch (...) {
      error = std::current_exception();
    }
  }).join();
  if (error) std::rethrow_exception(error);
}

void BoundOpenMpSpinning(char** argv) {
  if (std::getenv("GOMP_SPINCOUNT") != nullptr) return;  // the environment decided
  // The binary's own path, not /proc/self/exe: the kernel names the process after the file
  // executed, and ps, top and container checks look for "beit-server", not "exe".
  char path[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (length <= 0) return;  // no /proc: libgomp's default spinning
  path[length] = '\0';
  setenv("GOMP_SPINCOUNT", "10000", 1);
  execv(path, argv);
  unsetenv("GOMP_SPINCOUNT");  // exec failed: go on as started, with libgomp's default
}

}  // namespace beit::serving

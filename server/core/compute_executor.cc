#include "server/core/compute_executor.h"

#include <climits>
#include <cstdlib>
#include <exception>

#include <pthread.h>
#include <unistd.h>

namespace beit::serving {

struct ComputeExecutor::Job {
  const std::function<void()>* work;
  std::exception_ptr error;
  bool done = false;
};

ComputeExecutor::ComputeExecutor() : thread_([this] { Loop(); }) {
  pthread_setname_np(thread_.native_handle(), "beit-compute");
}

ComputeExecutor::~ComputeExecutor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void ComputeExecutor::Run(const std::function<void()>& work) {
  Job job{&work, nullptr, false};
  std::unique_lock<std::mutex> lock(mu_);
  jobs_.push_back(&job);
  cv_.notify_all();
  cv_.wait(lock, [&] { return job.done; });
  if (job.error) std::rethrow_exception(job.error);
}

void ComputeExecutor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, nothing left
    Job* job = jobs_.front();
    jobs_.pop_front();
    lock.unlock();
    try {
      (*job->work)();
    } catch (...) {
      job->error = std::current_exception();
    }
    lock.lock();
    job->done = true;
    cv_.notify_all();
  }
}

void RunOnOwnThread(const std::function<void()>& work) {
  std::exception_ptr error;
  std::thread([&] {
    try {
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

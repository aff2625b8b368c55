#include "server/compute_executor.h"

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
  setenv("GOMP_SPINCOUNT", "10000", 1);
  execv("/proc/self/exe", argv);
  // exec failed (no /proc): go on with libgomp's default spinning.
}

}  // namespace beit::serving

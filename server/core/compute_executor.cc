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
  int instance = -1;  // -1: the first free instance
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
  // One job addressed to each instance: each runs it when it is next free, between the batches
  // it serves, so a model warming up while others serve never idles an instance to wait for the
  // rest (as a barrier over all instances would).
  std::lock_guard<std::mutex> one_at_a_time(every_mu_);
  std::vector<Job> jobs(instances());
  std::unique_lock<std::mutex> lock(mu_);
  for (size_t i = 0; i < jobs.size(); ++i) {
    jobs[i].work = &work;
    jobs[i].instance = static_cast<int>(i);
    jobs_.push_back(&jobs[i]);
  }
  cv_.notify_all();
  cv_.wait(lock, [&] { return std::all_of(jobs.begin(), jobs.end(), [](const Job& j) { return j.done; }); });
  for (const Job& j : jobs) {
    if (j.error) std::rethrow_exception(j.error);
  }
}

void ComputeExecutor::Loop(int instance) {
  // This thread's own OpenMP team: the setting is per thread (OpenMP's nthreads-var ICV).
  if (threads_per_instance_ > 0) SetComputeThreads(threads_per_instance_);
  std::unique_lock<std::mutex> lock(mu_);
  // The oldest job this instance may take: addressed to it, or to any.
  auto next = [&] {
    return std::find_if(jobs_.begin(), jobs_.end(), [&](const Job* j) { return j->instance < 0 || j->instance == instance; });
  };
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || next() != jobs_.end(); });
    const auto it = next();
    if (it == jobs_.end()) return;  // stopping, nothing left for this instance
    Job* job = *it;
    jobs_.erase(it);
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

// A fixed set of threads running posted jobs: image decoding and preprocessing, and response
// building, off the gRPC threads and off the batchers' compute threads.
//
// Contract:
// - TryPost(job) queues `job` unless `max_pending` jobs are already waiting (then returns false and
//   the caller answers RESOURCE_EXHAUSTED) or the pool is shutting down (false too).
// - Jobs run in FIFO order on any worker; a job that throws is contained (logged to stderr).
// - Shutdown() (and the destructor) runs every job already queued, then joins the workers.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace beit::serving {

class WorkerPool {
 public:
  WorkerPool(int num_threads, size_t max_pending);
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  ~WorkerPool();

  bool TryPost(std::function<void()> job);
  void Shutdown();
  size_t pending() const;

 private:
  void Work();

  const size_t max_pending_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace beit::serving

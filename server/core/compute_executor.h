// The threads that run every model forward of a server: its model instances.
//
// Why: the engine computes with OpenMP, and libgomp keeps a team of threads per thread that
// starts parallel work. With forwards run from each batcher's own thread (and models loaded and
// warmed up on the main thread) a server held several teams, more OpenMP threads than cores,
// and libgomp then stops spinning between parallel regions (its "throttled" wait, about 100
// spins): every one of a forward's hundreds of parallel regions woke a sleeping thread. A served
// int8 forward took 1.27x beit-bench's (bench/RESULTS.md, issue #29). So forwards run on a fixed
// set of compute threads, each the master of one OpenMP team, spinning between regions as in the
// benchmark, its per-thread working memory (model/ops) warmed once. One instance with every core
// is the default; several instances of fewer threads each compute several batches at once, which
// scales better than one team on many cores (bench/RESULTS.md, "Model instances").
//
// Contract:
// - ComputeExecutor(instances, threads_per_instance): `instances` (>= 1) threads, named
//   "beit-compute" (one instance) or "beit-compute-I" (top -H, ps -L). With threads_per_instance
//   > 0 each thread's OpenMP team has that many threads; with 0 it has OpenMP's default
//   (OMP_NUM_THREADS, else every core).
// - Run(work) runs work(instance) on a free instance and returns when it has finished, rethrowing
//   what it threw; `instance` is in 0..instances-1. Calls wait in the order they arrive for the
//   next free instance: with one instance, "one forward at a time, each using every OpenMP
//   thread".
// - RunOnEvery(work) runs work(instance) once on each instance (e.g. a warm-up of every team),
//   each instance when it is next free (no instance waits for the others), and returns when all
//   have finished, rethrowing the first error. Calls run one after another; not to be called from
//   work running on an instance.
// - busy() counts the instances running work now.
// - RunOnOwnThread(work, threads) runs `work` on a new thread (an OpenMP team of `threads` when > 0)
//   and joins it (rethrowing): for model loading, whose oneDNN reorders start an OpenMP team that
//   then ends with that thread instead of staying beside the compute threads'.
// - The destructor finishes queued work, then joins the thread. The thread is named
//   "beit-compute" (top -H, ps -L).
// - BoundOpenMpSpinning(argv), first thing in main: a spinning team is what makes one team fast,
//   and what can make it slow when its cores are shared with other busy processes (a waiting
//   thread spins while the one it waits for is descheduled). libgomp's default is 300,000 spins
//   (a few ms); 10,000 (about 0.1 ms) still covers the gaps between a forward's parallel regions
//   (bench/RESULTS.md, issue #29). libgomp reads GOMP_SPINCOUNT only when it is loaded, so
//   unless the environment sets it, this re-executes the binary once (its resolved path, so the
//   process keeps its name; same pid, arguments and signal dispositions) with
//   GOMP_SPINCOUNT=10000. It returns when nothing was to be done or the exec failed (the process
//   then runs with libgomp's default).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace beit::serving {

class ComputeExecutor {
 public:
  explicit ComputeExecutor(int instances = 1, int threads_per_instance = 0);
  ~ComputeExecutor();
  ComputeExecutor(const ComputeExecutor&) = delete;
  ComputeExecutor& operator=(const ComputeExecutor&) = delete;

  void Run(const std::function<void(int instance)>& work);
  void RunOnEvery(const std::function<void(int instance)>& work);

  int instances() const { return static_cast<int>(threads_.size()); }
  int threads_per_instance() const { return threads_per_instance_; }
  int busy() const { return busy_.load(); }

 private:
  struct Job;
  void Loop(int instance);

  const int threads_per_instance_;
  std::mutex every_mu_;  // one RunOnEvery at a time
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> jobs_;
  bool stopping_ = false;
  std::atomic<int> busy_{0};
  std::vector<std::thread> threads_;
};

void RunOnOwnThread(const std::function<void()>& work, int threads = 0);

void BoundOpenMpSpinning(char** argv);

}  // namespace beit::serving

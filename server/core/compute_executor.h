// The one thread that runs every model forward of a server.
//
// Why: the engine computes with OpenMP, and libgomp keeps a team of threads per thread that
// starts parallel work. With forwards run from each batcher's own thread (and models loaded and
// warmed up on the main thread) a server held several teams, more OpenMP threads than cores,
// and libgomp then stops spinning between parallel regions (its "throttled" wait, about 100
// spins): every one of a forward's hundreds of parallel regions woke a sleeping thread. A served
// int8 forward took 1.27x beit-bench's (bench/RESULTS.md, issue #29). One compute thread means one
// team of OMP_NUM_THREADS threads, spinning between regions as in the benchmark, and its per-thread
// working memory (model/ops) warmed once.
//
// Contract:
// - Run(work) runs `work` on the compute thread and returns when it has finished, rethrowing
//   what it threw. Calls from several threads run one at a time, in the order they arrive: "one
//   forward at a time, each using every OpenMP thread".
// - RunOnOwnThread(work) runs `work` on a new thread and joins it (rethrowing): for model loading,
//   whose oneDNN reorders start an OpenMP team that then ends with that thread instead of staying
//   beside the compute thread's.
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

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace beit::serving {

class ComputeExecutor {
 public:
  ComputeExecutor();
  ~ComputeExecutor();
  ComputeExecutor(const ComputeExecutor&) = delete;
  ComputeExecutor& operator=(const ComputeExecutor&) = delete;

  void Run(const std::function<void()>& work);

 private:
  struct Job;
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

void RunOnOwnThread(const std::function<void()>& work);

void BoundOpenMpSpinning(char** argv);

}  // namespace beit::serving

// The compute instances (server/core/compute_executor.h): with one, every forward on one thread, one
// at a time, in order, errors carried back to the caller; with several, that many at once, each on
// its own thread with its own OpenMP thread count. End to end on a served model, a process holds
// exactly one OpenMP team per instance (the compute thread and its workers, which carry its name),
// however many batchers ran forwards and wherever the model was loaded.
#include "server/core/compute_executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <dirent.h>
#include <fstream>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "model/ops/compute_backend.h"
#include "server/core/model_repository.h"

namespace beit::serving {
namespace {

TEST(ComputeExecutor, RunsEveryCallOnOneThreadOneAtATime) {
  ComputeExecutor executor;
  std::atomic<int> running{0}, most{0};
  std::vector<std::thread::id> ran_on(64);
  std::vector<std::thread> callers;
  for (int c = 0; c < 8; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; i < 8; ++i) {
        executor.Run([&](int) {
          const int now = ++running;
          most = std::max(most.load(), now);
          ran_on[c * 8 + i] = std::this_thread::get_id();
          std::this_thread::yield();
          --running;
        });
      }
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(most.load(), 1);
  for (const auto& id : ran_on) {
    EXPECT_EQ(id, ran_on[0]);
    EXPECT_NE(id, std::this_thread::get_id());
  }
}

TEST(ComputeExecutor, CarriesErrorsBackAndKeepsWorking) {
  ComputeExecutor executor;
  EXPECT_THROW(executor.Run([](int) { throw std::runtime_error("forward failed"); }), std::runtime_error);
  int ran = 0;
  executor.Run([&](int) { ++ran; });
  EXPECT_EQ(ran, 1);
  EXPECT_THROW(RunOnOwnThread([] { throw std::runtime_error("load failed"); }), std::runtime_error);
}

TEST(ComputeExecutor, InstancesComputeAtOnceEachOnItsOwnThreadAndTeam) {
  ComputeExecutor executor(3, 2);
  EXPECT_EQ(executor.instances(), 3);
  std::mutex mu;
  std::condition_variable cv;
  int inside = 0, busy_seen = 0;
  std::vector<int> instances;
  std::vector<std::thread::id> threads;
  std::vector<int> team_sizes;
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&] {
      executor.Run([&](int instance) {
        std::unique_lock<std::mutex> lock(mu);
        instances.push_back(instance);
        threads.push_back(std::this_thread::get_id());
        team_sizes.push_back(ComputeThreads());
        ++inside;
        cv.notify_all();
        // All three at once, or this test times out: three instances compute concurrently.
        ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return inside == 3; }));
        busy_seen = std::max(busy_seen, executor.busy());
      });
    });
  }
  for (auto& t : callers) t.join();
  std::sort(instances.begin(), instances.end());
  EXPECT_EQ(instances, (std::vector<int>{0, 1, 2}));
  EXPECT_NE(threads[0], threads[1]);
  EXPECT_NE(threads[1], threads[2]);
  EXPECT_NE(threads[0], threads[2]);
  EXPECT_EQ(team_sizes, (std::vector<int>{2, 2, 2})) << "each instance's own OpenMP thread count";
  EXPECT_EQ(busy_seen, 3);
  EXPECT_EQ(executor.busy(), 0);
}

TEST(ComputeExecutor, RunOnEveryReachesEachInstanceOnce) {
  ComputeExecutor executor(4, 1);
  std::mutex mu;
  std::vector<int> reached;
  executor.RunOnEvery([&](int instance) {
    std::lock_guard<std::mutex> lock(mu);
    reached.push_back(instance);
  });
  std::sort(reached.begin(), reached.end());
  EXPECT_EQ(reached, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_THROW(executor.RunOnEvery([](int instance) {
    if (instance == 2) throw std::runtime_error("warm-up failed");
  }),
               std::runtime_error);
}

// The names of this process's threads.
std::vector<std::string> ThreadNames() {
  std::vector<std::string> names;
  DIR* dir = opendir("/proc/self/task");
  if (!dir) return names;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    names.push_back(name);
  }
  closedir(dir);
  return names;
}

int Count(const std::vector<std::string>& names, const std::string& name) {
  int n = 0;
  for (const std::string& s : names) n += s == name;
  return n;
}

TEST(ComputeExecutor, RunOnEveryDoesNotIdleAFreeInstanceWhileAnotherIsBusy) {
  // A model warming up while another serves: the free instance warms up at once, the busy one
  // after its forward; neither waits for the other.
  ComputeExecutor executor(2, 1);
  std::promise<void> release, busy_started;
  std::thread busy([&] {
    executor.Run([&](int) {
      busy_started.set_value();
      release.get_future().wait();
    });
  });
  busy_started.get_future().wait();
  std::promise<void> free_instance_ran;
  std::atomic<int> ran{0};
  std::thread every([&] {
    executor.RunOnEvery([&](int) {
      if (++ran == 1) free_instance_ran.set_value();
    });
  });
  EXPECT_EQ(free_instance_ran.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the free instance waited for the busy one";
  EXPECT_EQ(ran.load(), 1);
  release.set_value();
  every.join();
  busy.join();
  EXPECT_EQ(ran.load(), 2);
}

TEST(ServedForwards, TheProcessHoldsOneOpenMpTeam) {
  const int threads = ComputeThreads();
  if (threads < 2) GTEST_SKIP() << "one OpenMP thread: no team to count";
  std::string main_name;
  std::getline(std::ifstream("/proc/self/comm") >> std::ws, main_name);
  const std::vector<std::string> before = ThreadNames();
  {
    ModelRepository models;
    std::vector<std::string> warnings;
    models.Load({{"cls", std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool"}}, {}, {}, nullptr,
                &warnings);
    models.WarmupAll();
    ServedModel* model = models.Find("cls")->get();
    // Forwards from two batchers (two threads of their own).
    Tensor pixels({1, 3, 32, 32});
    std::promise<void> classified, embedded;
    ASSERT_TRUE(model->classify()
                    ->Submit({pixels, 1}, Clock::time_point::max(), nullptr,
                             [&](absl::StatusOr<ClassifyOutput> r, const BatchInfo&) {
                               EXPECT_TRUE(r.ok());
                               classified.set_value();
                             })
                    .ok());
    EmbedInput in;
    in.pixels = pixels;
    ASSERT_TRUE(model->embed()
                    ->Submit(std::move(in), Clock::time_point::max(), nullptr,
                             [&](absl::StatusOr<EmbedOutput> r, const BatchInfo&) {
                               EXPECT_TRUE(r.ok());
                               embedded.set_value();
                             })
                    .ok());
    classified.get_future().get();
    embedded.get_future().get();
    const std::vector<std::string> after = ThreadNames();
    // The compute thread and its workers, which are named after it.
    EXPECT_EQ(Count(after, "beit-compute"), threads);
    // Nothing else started OpenMP threads: the batchers' threads are one per task (no workers
    // named after them), and loading left none behind on this thread's name.
    EXPECT_EQ(Count(after, "beit-batcher"), 3) << "classify, embed and explain";
    EXPECT_EQ(Count(after, main_name), Count(before, main_name)) << main_name;
    models.ShutdownAll();
  }
}

TEST(ServedForwards, EachInstanceHoldsOneOpenMpTeamOfItsThreads) {
  // As above: where the environment asks for one OpenMP thread (the ThreadSanitizer run, which
  // cannot follow libgomp's fork and join), no teams.
  if (ComputeThreads() < 2) GTEST_SKIP() << "one OpenMP thread: no team to count";
  {
    ModelRepository models({/*instances=*/2, /*threads_per_instance=*/2});
    std::vector<std::string> warnings;
    models.Load({{"cls", std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool"}}, {}, {}, nullptr,
                &warnings);
    models.WarmupAll();  // a forward on every instance
    const std::vector<std::string> names = ThreadNames();
    // Each compute thread and its one worker, named after it.
    EXPECT_EQ(Count(names, "beit-compute-0"), 2);
    EXPECT_EQ(Count(names, "beit-compute-1"), 2);
    EXPECT_EQ(Count(names, "beit-batcher"), 6) << "two per task: each model computes two batches at once";
    models.ShutdownAll();
  }
}

}  // namespace
}  // namespace beit::serving

// The compute thread (server/core/compute_executor.h): every forward on one thread, one at a time, in
// order, errors carried back to the caller — and, end to end on a served model, a process that
// holds exactly one OpenMP team (the compute thread and its OMP_NUM_THREADS - 1 workers, which
// carry its name), however many batchers ran forwards and wherever the model was loaded.
#include "server/core/compute_executor.h"

#include <gtest/gtest.h>

#include <atomic>
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
        executor.Run([&] {
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
  EXPECT_THROW(executor.Run([] { throw std::runtime_error("forward failed"); }), std::runtime_error);
  int ran = 0;
  executor.Run([&] { ++ran; });
  EXPECT_EQ(ran, 1);
  EXPECT_THROW(RunOnOwnThread([] { throw std::runtime_error("load failed"); }), std::runtime_error);
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
    ServedModel* model = *models.Find("cls");
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

}  // namespace
}  // namespace beit::serving

#include "server/core/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>

namespace beit::serving {
namespace {

TEST(WorkerPool, RunsEveryJobOnItsThreads) {
  std::atomic<int> sum{0};
  {
    WorkerPool pool(3, 1000);
    for (int i = 1; i <= 100; ++i) ASSERT_TRUE(pool.TryPost([&, i] { sum += i; }));
  }  // the destructor drains the queue
  EXPECT_EQ(sum.load(), 5050);
}

TEST(WorkerPool, RefusesBeyondMaxPendingAndAfterShutdown) {
  WorkerPool pool(1, 2);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::promise<void> started;
  ASSERT_TRUE(pool.TryPost([&] {
    started.set_value();
    gate.wait();
  }));
  started.get_future().wait();  // the only worker is busy
  EXPECT_TRUE(pool.TryPost([] {}));
  EXPECT_TRUE(pool.TryPost([] {}));
  EXPECT_FALSE(pool.TryPost([] {})) << "two are already waiting";
  EXPECT_EQ(pool.pending(), 2u);
  release.set_value();
  pool.Shutdown();
  EXPECT_FALSE(pool.TryPost([] {}));
}

TEST(WorkerPool, AThrowingJobDoesNotKillItsWorker) {
  std::atomic<int> ran{0};
  WorkerPool pool(1, 10);
  ASSERT_TRUE(pool.TryPost([] { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(pool.TryPost([&] { ++ran; }));
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 1);
}

}  // namespace
}  // namespace beit::serving

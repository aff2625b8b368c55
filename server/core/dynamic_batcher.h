// A dynamic batcher for one model and one task, with Triton's meanings for its knobs.
//
// Contract:
// - Submit(input, deadline, cancelled, done) queues one request. It returns a non-OK status at once,
//   without ever calling `done`, when the queue already holds `max_queue_size` waiting requests
//   (RESOURCE_EXHAUSTED) or the batcher is shutting down (UNAVAILABLE). Otherwise `done` is called
//   exactly once, on the batcher's thread.
// - One thread at a time forms a batch: it waits for the oldest queued request to have waited
//   `max_queue_delay_us`, or for `max_batch_size` requests, whichever comes first, then calls the
//   BatchFunction with up to `max_batch_size` inputs in arrival order. `concurrent_batches`
//   threads take turns (the model's instances): while one computes a batch, the next forms and
//   computes another, so up to that many BatchFunction calls run at once. With 1, one batch at a
//   time, each formed once the previous one finished.
// - A request whose deadline has passed, or whose `cancelled` flag is set, never reaches the
//   BatchFunction: `done` gets DEADLINE_EXCEEDED or CANCELLED. When the queue is full, such requests
//   are pruned before a new one is refused.
// - The BatchFunction returns one result per input, in order; an exception or a wrong count turns
//   into INTERNAL for every request of that batch. Nothing here is specific to BEiT or gRPC.
// - Shutdown() refuses new requests, finishes everything already queued, then joins the threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pthread.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace beit::serving {

using Clock = std::chrono::steady_clock;
using CancellationFlag = std::shared_ptr<const std::atomic<bool>>;

struct BatcherOptions {
  int max_batch_size = 8;
  int64_t max_queue_delay_us = 2000;
  int max_queue_size = 256;
  int concurrent_batches = 1;  // the model's instances
};

// How one request was served.
struct BatchInfo {
  int batch_size = 0;
  int64_t queue_time_us = 0;
  int64_t compute_time_us = 0;
};

struct BatcherStats {
  int64_t batches = 0;             // BatchFunction calls
  int64_t requests_computed = 0;   // inputs passed to the BatchFunction
  int64_t rejected_queue_full = 0;
  int64_t expired = 0;             // dropped unrun: deadline passed
  int64_t cancelled = 0;           // dropped unrun: client cancelled
  int64_t largest_batch = 0;
  int64_t queued = 0;              // waiting right now
};

template <typename Input, typename Output>
class DynamicBatcher {
 public:
  using DoneCallback = std::function<void(absl::StatusOr<Output>, const BatchInfo&)>;
  using BatchFunction = std::function<std::vector<absl::StatusOr<Output>>(std::vector<Input>&)>;

  DynamicBatcher(std::string name, BatcherOptions options, BatchFunction run)
      : name_(std::move(name)), options_(options), run_(std::move(run)) {
    options_.max_batch_size = std::max(1, options_.max_batch_size);
    options_.max_queue_size = std::max(1, options_.max_queue_size);
    options_.max_queue_delay_us = std::max<int64_t>(0, options_.max_queue_delay_us);
    options_.concurrent_batches = std::max(1, options_.concurrent_batches);
    for (int i = 0; i < options_.concurrent_batches; ++i) {
      threads_.emplace_back([this] { Loop(); });
      pthread_setname_np(threads_.back().native_handle(), "beit-batcher");  // forms batches, waits for them
    }
  }
  DynamicBatcher(const DynamicBatcher&) = delete;
  DynamicBatcher& operator=(const DynamicBatcher&) = delete;
  ~DynamicBatcher() { Shutdown(); }

  absl::Status Submit(Input input, Clock::time_point deadline, CancellationFlag cancelled, DoneCallback done) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return absl::UnavailableError(name_ + ": the server is shutting down");
    if (static_cast<int>(queue_.size()) >= options_.max_queue_size) PruneDeadLocked();
    if (static_cast<int>(queue_.size()) >= options_.max_queue_size) {
      ++stats_.rejected_queue_full;
      return absl::ResourceExhaustedError(name_ + ": queue full (" + std::to_string(options_.max_queue_size) +
                                          " requests waiting); retry later or raise --max-queue-size");
    }
    queue_.push_back(Pending{std::move(input), Clock::now(), deadline, std::move(cancelled), std::move(done)});
    cv_.notify_all();  // the thread forming a batch, whichever of them it is
    return absl::OkStatus();
  }

  // Counts a request of this task that died (deadline passed or cancelled) before it could be
  // submitted, e.g. while its image waited to be decoded, so the counters cover every request
  // that was never computed.
  void CountDroppedBeforeQueue(absl::StatusCode reason) {
    std::lock_guard<std::mutex> lock(mu_);
    ++(reason == absl::StatusCode::kCancelled ? stats_.cancelled : stats_.expired);
  }

  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  BatcherStats Stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    BatcherStats s = stats_;
    s.queued = static_cast<int64_t>(queue_.size());
    return s;
  }

  const BatcherOptions& options() const { return options_; }

 private:
  struct Pending {
    Input input;
    Clock::time_point enqueued;
    Clock::time_point deadline;
    CancellationFlag cancelled;
    DoneCallback done;
    absl::StatusCode dropped_as = absl::StatusCode::kOk;  // set when dropped unrun
  };

  // A passed deadline wins over cancellation: gRPC also cancels calls whose deadline passed.
  static absl::StatusCode DropReason(const Pending& p, Clock::time_point now) {
    if (p.deadline <= now) return absl::StatusCode::kDeadlineExceeded;
    if (p.cancelled && p.cancelled->load(std::memory_order_relaxed)) return absl::StatusCode::kCancelled;
    return absl::StatusCode::kOk;
  }

  // Moves cancelled and expired requests out of the queue; their callbacks run later, unlocked.
  void PruneDeadLocked() {
    const Clock::time_point now = Clock::now();
    for (Pending& p : queue_) p.dropped_as = DropReason(p, now);
    auto dead = std::stable_partition(queue_.begin(), queue_.end(),
                                      [](const Pending& p) { return p.dropped_as == absl::StatusCode::kOk; });
    for (auto it = dead; it != queue_.end(); ++it) dropped_.push_back(std::move(*it));
    queue_.erase(dead, queue_.end());
    cv_.notify_all();  // a loop delivers their statuses
  }

  // A callback that throws must not end the batcher's thread (and the process with it).
  void Deliver(DoneCallback& done, absl::StatusOr<Output> result, const BatchInfo& info) {
    try {
      done(std::move(result), info);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: a request's callback threw: %s\n", name_.c_str(), e.what());
    }
  }

  void FinishDropped(std::vector<Pending>& dropped) {
    for (Pending& p : dropped) {
      BatchInfo info;
      if (p.dropped_as == absl::StatusCode::kCancelled) {
        Deliver(p.done, absl::CancelledError(name_ + ": cancelled by the client while queued"), info);
      } else {
        Deliver(p.done, absl::DeadlineExceededError(name_ + ": deadline passed while queued; not computed"), info);
      }
    }
    dropped.clear();
  }

  void Loop() {
    std::vector<Pending> batch, dropped;
    std::vector<Input> inputs;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      // Another thread forming a batch owns the queue until it has taken its batch.
      cv_.wait(lock, [&] {
        return (stopping_ && queue_.empty() && dropped_.empty()) || (!forming_ && (!queue_.empty() || !dropped_.empty()));
      });
      if (!dropped_.empty()) {
        CountDroppedLocked(dropped_);
        dropped.swap(dropped_);
        lock.unlock();
        FinishDropped(dropped);
        lock.lock();
        continue;
      }
      if (queue_.empty()) return;  // stopping, nothing left
      forming_ = true;
      const auto fire_at = queue_.front().enqueued + std::chrono::microseconds(options_.max_queue_delay_us);
      while (!stopping_ && dropped_.empty() && !queue_.empty() &&
             static_cast<int>(queue_.size()) < options_.max_batch_size && Clock::now() < fire_at) {
        cv_.wait_until(lock, fire_at);
      }
      if (!dropped_.empty() || queue_.empty()) {  // tell pruned requests first
        forming_ = false;
        continue;
      }
      const Clock::time_point start = Clock::now();
      while (!queue_.empty() && static_cast<int>(batch.size()) < options_.max_batch_size) {
        Pending p = std::move(queue_.front());
        queue_.pop_front();
        p.dropped_as = DropReason(p, start);
        if (p.dropped_as != absl::StatusCode::kOk) {
          dropped.push_back(std::move(p));
        } else {
          batch.push_back(std::move(p));
        }
      }
      CountDroppedLocked(dropped);
      if (!batch.empty()) {
        ++stats_.batches;
        stats_.requests_computed += static_cast<int64_t>(batch.size());
        stats_.largest_batch = std::max<int64_t>(stats_.largest_batch, static_cast<int64_t>(batch.size()));
      }
      forming_ = false;
      cv_.notify_all();  // the next thread may form a batch while this one computes
      lock.unlock();
      FinishDropped(dropped);
      if (!batch.empty()) RunBatch(batch, inputs, start);
      lock.lock();
    }
  }

  void CountDroppedLocked(const std::vector<Pending>& dropped) {
    for (const Pending& p : dropped) {
      ++(p.dropped_as == absl::StatusCode::kCancelled ? stats_.cancelled : stats_.expired);
    }
  }

  void RunBatch(std::vector<Pending>& batch, std::vector<Input>& inputs, Clock::time_point start) {
    inputs.clear();
    for (Pending& p : batch) inputs.push_back(std::move(p.input));
    std::vector<absl::StatusOr<Output>> results;
    try {
      results = run_(inputs);
      if (results.size() != batch.size()) {
        results.assign(batch.size(), absl::InternalError(name_ + ": batch function returned " +
                                                         std::to_string(results.size()) + " results for " +
                                                         std::to_string(batch.size()) + " inputs"));
      }
    } catch (const std::exception& e) {
      results.assign(batch.size(), absl::InternalError(name_ + ": " + e.what()));
    }
    const Clock::time_point end = Clock::now();
    BatchInfo info;
    info.batch_size = static_cast<int>(batch.size());
    info.compute_time_us = std::chrono::duration_cast<std::chrono::microseconds>(end - start).count();
    for (size_t i = 0; i < batch.size(); ++i) {
      info.queue_time_us = std::chrono::duration_cast<std::chrono::microseconds>(start - batch[i].enqueued).count();
      Deliver(batch[i].done, std::move(results[i]), info);
    }
    batch.clear();
  }

  const std::string name_;
  BatcherOptions options_;
  const BatchFunction run_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  std::vector<Pending> dropped_;  // pruned on a full queue, not yet told
  bool stopping_ = false;
  bool forming_ = false;  // a thread is forming a batch
  BatcherStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace beit::serving

#include "client/bulk_runner.h"

#include <algorithm>
#include <mutex>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace beit::client {
namespace {

// Calls `f`, turning an exception that escapes it into an INTERNAL status: one file's surprise
// must not take down the run, and an escaping exception would end the process from a worker.
template <typename F, typename Arg>
auto Guarded(const F& f, const Arg& arg) -> decltype(f(arg)) {
  try {
    return f(arg);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("unexpected error: ", e.what()));
  } catch (...) {
    return absl::InternalError("unexpected error");
  }
}

}  // namespace

absl::StatusOr<BulkSummary> RunBulk(const std::vector<std::string>& paths, const FileTask& task,
                                    const RecordResult& record, const BulkOptions& options) {
  const absl::Time start = absl::Now();
  std::atomic<size_t> next{0};
  std::atomic<bool> record_failed{false};
  std::mutex record_mutex;  // serialises `record` and guards the fields below
  absl::Status record_error;
  BulkSummary summary;
  auto stopping = [&] {
    return record_failed.load() || (options.stop != nullptr && options.stop->load());
  };
  auto worker = [&] {
    while (!stopping()) {
      const size_t i = next.fetch_add(1);
      if (i >= paths.size()) return;
      FileResult result;
      result.path = paths[i];
      const absl::Time begin = absl::Now();
      absl::StatusOr<nlohmann::json> answer = Guarded(task, paths[i]);
      result.milliseconds = absl::ToDoubleMilliseconds(absl::Now() - begin);
      if (answer.ok()) {
        result.answer = *std::move(answer);
      } else {
        result.status = answer.status();
      }
      std::lock_guard<std::mutex> lock(record_mutex);
      if (record_failed.load()) return;
      if (absl::Status s = Guarded(record, result); !s.ok()) {
        record_error = s;
        record_failed.store(true);
        return;
      }
      (result.status.ok() ? summary.ok : summary.failed) += 1;
      if (options.progress != nullptr) options.progress->Record(result.status.ok());
    }
  };
  const int workers = std::max(1, std::min<int>(options.concurrency, static_cast<int>(std::max<size_t>(paths.size(), 1))));
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    try {
      threads.emplace_back(worker);
    } catch (const std::system_error&) {
      break;  // out of threads: run with those started
    }
  }
  if (threads.empty()) return absl::ResourceExhaustedError("cannot start a worker thread");
  for (std::thread& t : threads) t.join();
  if (!record_error.ok()) return record_error;
  summary.not_started = static_cast<int64_t>(paths.size()) - summary.ok - summary.failed;
  summary.interrupted = summary.not_started > 0;
  summary.elapsed = absl::Now() - start;
  return summary;
}

}  // namespace beit::client

// Runs one task over many files with a fixed number of concurrent workers: the engine of
// `beit-client classify|segment|embed|explain` on directories, globs and @lists.
//
// Contract:
// - `concurrency` workers (at least 1) take the files in order; each file's task runs once and its
//   outcome, answer or error, goes to `record` (called by one worker at a time, in completion
//   order) and to `progress` when given. A failing file never stops the run.
// - When `*stop` becomes true (Ctrl-C), no further file is started; the files in flight finish and
//   are recorded, so what is recorded is complete. `interrupted` then says so and `not_started`
//   counts the files left.
// - If `record` fails (the results file cannot be written), no further file is started and
//   RunBulk returns that error: results that cannot be kept are not computed. Files in flight at
//   that moment finish but are not recorded (nor counted); a resumed run does them again.
// - An exception escaping `task` is that file's INTERNAL error; one escaping `record` is a
//   record failure. If fewer threads than asked can be started, the run uses those it has.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/progress_meter.h"
#include "client/result_file.h"

namespace beit::client {

// The work for one file: its answer (a JSON object) or why it failed.
using FileTask = std::function<absl::StatusOr<nlohmann::json>(const std::string& path)>;
using RecordResult = std::function<absl::Status(const FileResult&)>;

struct BulkOptions {
  int concurrency = 4;
  const std::atomic<bool>* stop = nullptr;  // may be null: never stopped
  ProgressMeter* progress = nullptr;        // may be null
};

struct BulkSummary {
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t not_started = 0;  // left when stopped
  bool interrupted = false;
  absl::Duration elapsed;
};

absl::StatusOr<BulkSummary> RunBulk(const std::vector<std::string>& paths, const FileTask& task,
                                    const RecordResult& record, const BulkOptions& options);

}  // namespace beit::client

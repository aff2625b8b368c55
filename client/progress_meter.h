// Progress of a bulk `beit-client` run, on stderr: a bar redrawn in place on a terminal, plain
// periodic lines on a pipe or file (logs stay readable), or nothing.
//
// Contract:
// - Record() counts one finished file (ok or failed); it is cheap and thread-safe.
// - kBar redraws one line ('\r', fitted to the terminal width: the bar shrinks, and on a terminal
//   too narrow for it the numbers alone are cut to the width) at most 10 times a second;
//   kLines prints a line every `line_interval`; both print a final line from Finish() (which the
//   destructor calls if the caller did not).
// - Every form shows done/total, the share done, images/s (files finished per second since the
//   start), the ETA at that rate, and the error count.
// - FormatProgress is the pure formatting, for tests.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace beit::client {

enum class ProgressStyle { kBar, kLines, kNone };

struct ProgressCounts {
  int64_t done = 0;  // ok + failed
  int64_t failed = 0;
  int64_t total = 0;
  absl::Duration elapsed;
};

// One progress line without a line break; `width` bounds a bar's line (ignored for lines).
std::string FormatProgress(const ProgressCounts& counts, ProgressStyle style, int width);

class ProgressMeter {
 public:
  ProgressMeter(FILE* out, ProgressStyle style, int64_t total, absl::Duration line_interval);
  ~ProgressMeter();
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  void Record(bool ok);
  void Finish();

 private:
  void Loop();
  void Print(bool final_line);
  ProgressCounts Counts() const;

  FILE* out_;
  ProgressStyle style_;
  int64_t total_;
  absl::Duration interval_;
  absl::Time start_;
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> failed_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool finished_ = false;
  std::thread thread_;
};

// The style for --progress auto|bar|lines|none given the stream it writes to (auto: a bar on a
// terminal, lines otherwise). Returns false for an unknown name.
bool ParseProgressStyle(const std::string& name, FILE* out, ProgressStyle* style);

}  // namespace beit::client

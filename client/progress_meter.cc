#include "client/progress_meter.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace beit::client {
namespace {

int TerminalWidth(FILE* out) {
  winsize size{};
  if (ioctl(fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return 80;
}

}  // namespace

std::string FormatProgress(const ProgressCounts& c, ProgressStyle style, int width) {
  const double seconds = absl::ToDoubleSeconds(c.elapsed);
  const double rate = seconds > 0 ? static_cast<double>(c.done) / seconds : 0.0;
  const double share = c.total > 0 ? static_cast<double>(c.done) / static_cast<double>(c.total) : 1.0;
  std::string eta = "?";
  if (c.done >= c.total) {
    eta = "0s";
  } else if (rate > 0) {
    eta = absl::FormatDuration(absl::Trunc(absl::Seconds(static_cast<double>(c.total - c.done) / rate), absl::Seconds(1)));
  }
  const std::string errors = absl::StrCat(c.failed, c.failed == 1 ? " error" : " errors");
  if (style != ProgressStyle::kBar) {
    return absl::StrFormat("progress: %d/%d (%.1f%%), %.1f images/s, ETA %s, %s", c.done, c.total, 100 * share, rate, eta,
                           errors);
  }
  const std::string text =
      absl::StrFormat(" %d/%d %3.0f%% %.1f img/s ETA %s %s", c.done, c.total, 100 * share, rate, eta, errors);
  const int bar = std::clamp(width - 3 - static_cast<int>(text.size()), 0, 40);
  // Too narrow for a bar: the numbers alone, cut to the width so '\r' still redraws one line.
  if (bar < 5) return text.substr(1, static_cast<size_t>(std::max(width, 1)));
  const int filled = static_cast<int>(share * bar);
  return absl::StrCat("[", std::string(filled, '#'), std::string(bar - filled, '-'), "]", text);
}

bool ParseProgressStyle(const std::string& name, FILE* out, ProgressStyle* style) {
  if (name == "auto") {
    *style = isatty(fileno(out)) ? ProgressStyle::kBar : ProgressStyle::kLines;
  } else if (name == "bar") {
    *style = ProgressStyle::kBar;
  } else if (name == "lines") {
    *style = ProgressStyle::kLines;
  } else if (name == "none") {
    *style = ProgressStyle::kNone;
  } else {
    return false;
  }
  return true;
}

ProgressMeter::ProgressMeter(FILE* out, ProgressStyle style, int64_t total, absl::Duration line_interval)
    : out_(out), style_(style), total_(total), interval_(line_interval), start_(absl::Now()) {
  if (style_ != ProgressStyle::kNone) thread_ = std::thread([this] { Loop(); });
}

ProgressMeter::~ProgressMeter() { Finish(); }

void ProgressMeter::Record(bool ok) {
  if (!ok) failed_.fetch_add(1, std::memory_order_relaxed);
  done_.fetch_add(1, std::memory_order_relaxed);
}

ProgressCounts ProgressMeter::Counts() const {
  return {done_.load(std::memory_order_relaxed), failed_.load(std::memory_order_relaxed), total_, absl::Now() - start_};
}

void ProgressMeter::Print(bool final_line) {
  const ProgressCounts counts = Counts();
  if (style_ == ProgressStyle::kBar) {
    const int width = TerminalWidth(out_);
    std::string line = FormatProgress(counts, style_, width - 1);
    // Pad over what a longer previous line left on the terminal.
    line.resize(std::max<size_t>(line.size(), static_cast<size_t>(width - 1)), ' ');
    std::fprintf(out_, "\r%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", FormatProgress(counts, style_, 0).c_str());
  }
  std::fflush(out_);
}

void ProgressMeter::Loop() {
  const absl::Duration period = style_ == ProgressStyle::kBar ? absl::Milliseconds(100) : interval_;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!finished_) {
    wake_.wait_for(lock, absl::ToChronoMilliseconds(period), [this] { return finished_; });
    if (!finished_) Print(/*final_line=*/false);
  }
}

void ProgressMeter::Finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (style_ != ProgressStyle::kNone) Print(/*final_line=*/true);
}

}  // namespace beit::client

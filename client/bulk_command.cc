#include "client/bulk_command.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/beit_v1_commands.h"
#include "client/bulk_runner.h"
#include "client/cli_flags.h"
#include "client/embedding_matrix.h"
#include "client/input_paths.h"
#include "client/open_inference_commands.h"
#include "client/progress_meter.h"
#include "client/result_file.h"


namespace beit::client::cli {

using absl::GetFlag;
using nlohmann::json;

namespace {

std::atomic<bool> g_stop{false};

// First Ctrl-C (or SIGTERM): finish what is in flight; the handler is reset, so a second quits.
void OnStopSignal(int) { g_stop.store(true); }

// Top-1 fields beside the answer's predictions (the CSV's columns).
void AddTopPrediction(json& answer) {
  if (answer.contains("predictions") && !answer["predictions"].empty()) {
    const json& top = answer["predictions"][0];
    answer["label"] = top["label"];
    answer["index"] = top["index"];
    answer["score"] = top["score"];
  }
}

// The CSV columns after path, ok, ms, error, per command.
std::vector<std::string> CsvColumns(const std::string& command) {
  if (command == "classify") return {"label", "index", "score"};
  if (command == "segment") return {"height", "width", "png"};
  if (command == "embed") return {"row", "dim"};
  return {"label", "score", "grid_height", "grid_width", "png"};  // explain
}

// More workers than this only queue on the server and cost threads.
constexpr int kMaxBulkConcurrency = 256;

// Why an output file cannot be opened, as the exit code says it: a file the command would
// overwrite or continue wrongly (FAILED_PRECONDITION) is a usage error (exit 2); a file that
// cannot be read or written is a runtime failure (exit 1).
void ThrowIfCannotOpen(const absl::Status& status) {
  if (status.ok()) return;
  const std::string message(status.message());
  if (status.code() == absl::StatusCode::kFailedPrecondition) throw UsageError(message);
  throw std::runtime_error(message);
}

template <typename T>
std::unique_ptr<T> OpenedOrExit(absl::StatusOr<std::unique_ptr<T>> opened) {
  ThrowIfCannotOpen(opened.status());
  return *std::move(opened);
}

// The --npy and index paths of a bulk embed run.
std::pair<std::string, std::string> MatrixPaths(const std::string& output) {
  std::filesystem::path npy = GetFlag(FLAGS_npy);
  if (npy.empty()) npy = std::filesystem::path(output).replace_extension(".npy");
  std::filesystem::path index = npy;
  index.replace_extension(".index.txt");
  return {npy.string(), index.string()};
}

}  // namespace


// Runs `command` over every input; prints the summary on stderr; returns the exit code.
int RunMany(const Session& s, const std::string& command, const std::vector<std::string>& specs) {
  const bool v2 = s.api == "v2";
  if (command != "classify" && command != "segment" && command != "embed" && (command != "explain" || v2)) {
    throw UsageError(absl::StrCat("many inputs are for classify, segment, embed", v2 ? "" : " and explain",
                                  ", not ", command, v2 ? " with --api v2" : ""));
  }
  if (!GetFlag(FLAGS_image).empty()) throw UsageError("give inputs after the command or --image, not both");
  if (!GetFlag(FLAGS_overlay).empty() || !GetFlag(FLAGS_png).empty()) {
    throw UsageError("with many inputs, PNGs go to --output-dir (not --png/--overlay)");
  }
  const std::string output = Required(FLAGS_output, "output");
  const std::string output_dir = GetFlag(FLAGS_output_dir);
  const std::string concurrency_text = GetFlag(FLAGS_concurrency);
  const int concurrency = concurrency_text.empty() ? 4 : ParseInt("concurrency", concurrency_text);
  if (concurrency < 1 || concurrency > kMaxBulkConcurrency) {
    throw UsageError(absl::StrCat("--concurrency: 1 to ", kMaxBulkConcurrency, " with many inputs"));
  }
  const double progress_interval_s = GetFlag(FLAGS_progress_interval_s);
  if (!(progress_interval_s >= 0.1 && progress_interval_s <= 86400)) {
    throw UsageError("--progress-interval-s: 0.1 to 86400 seconds");
  }
  beit::client::ProgressStyle style;
  if (!beit::client::ParseProgressStyle(GetFlag(FLAGS_progress), stderr, &style)) {
    throw UsageError("--progress: expected auto, bar, lines or none");
  }
  Required(FLAGS_model, "model");
  // Every per-request flag is checked once, before any file: a usage error is not 20,000 errors.
  if (command == "explain") {
    pb::ExplainRequest check;
    SetExplainOptions(false, check);
  }
  if (command == "segment" && !GetFlag(FLAGS_size).empty()) OutputSize();
  if (command == "embed") IntList("layers", GetFlag(FLAGS_layers));
  if (v2) {
    RejectForV2(command, {{"scores", GetFlag(FLAGS_scores)}, {"l2", GetFlag(FLAGS_l2)}, {"layers", !GetFlag(FLAGS_layers).empty()},
                          {"cls", GetFlag(FLAGS_cls)}, {"mean", GetFlag(FLAGS_mean)}, {"patches", GetFlag(FLAGS_patches)}});
  }

  const bool resume = GetFlag(FLAGS_resume);
  if (GetFlag(FLAGS_retry_failed) && !resume) throw UsageError("--retry-failed goes with --resume");
  absl::StatusOr<std::vector<std::string>> inputs = beit::client::ExpandInputs(specs);
  if (!inputs.ok()) throw UsageError(std::string(inputs.status().message()));
  // Refusals come before the first file is created: an existing results file without --resume,
  // then the matrix's own checks.
  ThrowIfCannotOpen(beit::client::ResultFile::CheckCanOpen(output, resume));
  std::unique_ptr<beit::client::EmbeddingMatrix> matrix;
  if (command == "embed") {
    const auto [npy, index] = MatrixPaths(output);
    // Records without their matrix: a new matrix would give their rows to other files.
    std::error_code error;
    if (resume && beit::client::ResultFile::Started(output) && !std::filesystem::exists(npy, error)) {
      throw UsageError(absl::StrCat(output, " records rows of ", npy,
                                    ", which is missing: remove the results file and the index to start again"));
    }
    matrix = OpenedOrExit(beit::client::EmbeddingMatrix::Open(npy, index, resume));
  }
  const std::unique_ptr<beit::client::ResultFile> results =
      OpenedOrExit(beit::client::ResultFile::Open(output, CsvColumns(command), resume));
  std::vector<std::string> todo;
  for (const std::string& path : *inputs) {
    const std::optional<bool> outcome = results->Outcome(path);
    if (!outcome.has_value() || (!*outcome && GetFlag(FLAGS_retry_failed))) todo.push_back(path);
  }
  const int64_t skipped = static_cast<int64_t>(inputs->size() - todo.size());
  if (skipped > 0) std::fprintf(stderr, "beit-client: resuming %s: %lld of %zu files already recorded\n", output.c_str(),
                                static_cast<long long>(skipped), inputs->size());

  const beit::client::FileTask task = [&](const std::string& path) -> absl::StatusOr<json> {
    try {
      ImageOutputs outputs;
      if (!output_dir.empty()) {
        const std::filesystem::path png = std::filesystem::path(output_dir) / beit::client::OutputName(path);
        std::error_code error;
        std::filesystem::create_directories(png.parent_path(), error);
        if (error) throw FileError(absl::StatusCode::kPermissionDenied, absl::StrCat(png.parent_path().string(), ": ", error.message()));
        outputs.png = png.string();
      }
      json answer;
      if (command == "classify") {
        answer = v2 ? V2Classify(s, path) : Classify(s, path);
        AddTopPrediction(answer);
      } else if (command == "segment") {
        answer = v2 ? V2Segment(s, path, outputs) : Segment(s, path, outputs);
      } else if (command == "explain") {
        answer = Explain(s, path, outputs.png);
        AddTopPrediction(answer);
      } else {
        answer = v2 ? V2Embed(s, path) : Embed(s, path);
        const std::vector<float> embedding = answer["embedding"].get<std::vector<float>>();
        absl::StatusOr<int64_t> row = matrix->Append(path, embedding);
        if (!row.ok()) return row.status();
        answer.erase("embedding");
        answer["row"] = *row;
        answer["dim"] = embedding.size();
      }
      return answer;
    } catch (const RpcError& e) {
      return absl::Status(static_cast<absl::StatusCode>(e.status.error_code()), e.status.error_message());
    } catch (const FileError& e) {
      return absl::Status(e.code, e.what());
    } catch (const std::exception& e) {  // a malformed answer, an undecodable image for --overlay
      return absl::UnknownError(e.what());
    }
  };

  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  beit::client::ProgressMeter progress(stderr, style, static_cast<int64_t>(todo.size()),
                                       absl::Seconds(progress_interval_s));
  beit::client::BulkOptions options;
  options.concurrency = concurrency;
  options.stop = &g_stop;
  options.progress = &progress;
  const absl::StatusOr<beit::client::BulkSummary> summary = beit::client::RunBulk(
      todo, task,
      [&](const beit::client::FileResult& r) {
        // A matrix that can no longer be written stops the run as the results file would, before
        // this file is recorded: --resume then does it again (a row it did get is kept).
        if (matrix != nullptr) {
          if (absl::Status s = matrix->write_error(); !s.ok()) return s;
        }
        return results->Append(r);
      },
      options);
  progress.Finish();
  if (!summary.ok()) {
    std::fprintf(stderr, "beit-client: stopped: %s\n", std::string(summary.status().message()).c_str());
    return 1;
  }
  // The whole output's standing for these inputs, earlier runs' records included.
  int64_t answered = 0, failed = 0;
  for (const std::string& path : *inputs) {
    const std::optional<bool> outcome = results->Outcome(path);
    if (outcome.has_value()) (*outcome ? answered : failed) += 1;
  }
  const double seconds = absl::ToDoubleSeconds(summary->elapsed);
  const json line = {{"output", output},
                     {"files", inputs->size()},
                     {"ok", answered},
                     {"failed", failed},
                     {"not_started", summary->not_started},
                     {"interrupted", summary->interrupted},
                     {"skipped", skipped},
                     {"this_run", {{"ok", summary->ok}, {"failed", summary->failed}}},
                     {"seconds", seconds},
                     {"images_per_s", seconds > 0 ? static_cast<double>(summary->ok + summary->failed) / seconds : 0.0}};
  std::fprintf(stderr, "beit-client: %s%zu files: %lld ok, %lld failed%s; results in %s\n",
               summary->interrupted ? "interrupted: " : "", inputs->size(), static_cast<long long>(answered),
               static_cast<long long>(failed),
               summary->interrupted ? absl::StrCat(", ", summary->not_started, " not started (--resume continues)").c_str() : "",
               output.c_str());
  std::cout << line.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;  // paths may not be UTF-8
  if (summary->interrupted) return 130;
  return failed > 0 ? 1 : 0;
}

}  // namespace beit::client::cli

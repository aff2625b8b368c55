// beit-client's flags (Abseil), declared for the command files; defined in cli_flags.cc, their
// meanings in beit-client --help.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/flags/declare.h"

ABSL_DECLARE_FLAG(std::string, server);
ABSL_DECLARE_FLAG(std::string, api);
ABSL_DECLARE_FLAG(int, timeout_ms);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, token_file);
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(int64_t, model_version);
ABSL_DECLARE_FLAG(std::string, image);
ABSL_DECLARE_FLAG(std::optional<int>, top_k);
ABSL_DECLARE_FLAG(std::string, size);
ABSL_DECLARE_FLAG(bool, scores);
ABSL_DECLARE_FLAG(std::string, png);
ABSL_DECLARE_FLAG(std::string, overlay);
ABSL_DECLARE_FLAG(bool, l2);
ABSL_DECLARE_FLAG(std::string, layers);
ABSL_DECLARE_FLAG(bool, cls);
ABSL_DECLARE_FLAG(bool, mean);
ABSL_DECLARE_FLAG(bool, patches);
ABSL_DECLARE_FLAG(std::string, npy);
ABSL_DECLARE_FLAG(std::optional<double>, mask_ratio);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, mask);
ABSL_DECLARE_FLAG(std::string, service);
ABSL_DECLARE_FLAG(std::string, method);
ABSL_DECLARE_FLAG(std::string, query);
ABSL_DECLARE_FLAG(std::optional<int>, head);
ABSL_DECLARE_FLAG(bool, typed);
ABSL_DECLARE_FLAG(std::string, task);
ABSL_DECLARE_FLAG(std::string, concurrency);
ABSL_DECLARE_FLAG(std::optional<double>, rate);
ABSL_DECLARE_FLAG(double, duration_s);
ABSL_DECLARE_FLAG(double, warmup_s);
ABSL_DECLARE_FLAG(int, max_in_flight);
ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(std::string, output_dir);
ABSL_DECLARE_FLAG(bool, resume);
ABSL_DECLARE_FLAG(bool, retry_failed);
ABSL_DECLARE_FLAG(std::string, progress);
ABSL_DECLARE_FLAG(double, progress_interval_s);

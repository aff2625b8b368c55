#include "client/cli_support.h"

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

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/cli_flags.h"
#include "client/segmentation_overlay.h"
#include "model/image/image_decoder.h"
#include "model/image/png_encoder.h"


namespace beit::client::cli {

using absl::GetFlag;



std::string Required(const absl::Flag<std::string>& flag, const char* name) {
  std::string value = GetFlag(flag);
  if (value.empty()) throw UsageError(absl::StrCat("--", name, " is required"));
  return value;
}

int ParseInt(const char* flag, absl::string_view text) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) throw UsageError(absl::StrCat("--", flag, ": '", text, "' is not an integer"));
  return value;
}

std::vector<int> IntList(const char* flag, const std::string& text) {
  std::vector<int> out;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) out.push_back(ParseInt(flag, item));
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code error;
  if (!in || std::filesystem::is_directory(path, error)) throw FileError(absl::StatusCode::kNotFound, path + ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  if (!out) throw FileError(absl::StatusCode::kPermissionDenied, path + ": cannot write");
}

void Check(const grpc::Status& s) {
  if (!s.ok()) throw RpcError(s);
}

// --size HxW as (height, width).
std::pair<int, int> OutputSize() {
  const std::vector<absl::string_view> parts = absl::StrSplit(GetFlag(FLAGS_size), 'x');
  if (parts.size() != 2) throw UsageError("--size: expected HxW, e.g. 480x640");
  return {ParseInt("size", parts[0]), ParseInt("size", parts[1])};
}

// `overlay_path`: the image at `image` with the label map's class colours blended in.
void WriteOverlay(const std::string& image, const std::string& overlay_path, const beit::LabelMap& labels) {
  const beit::Image8 decoded = beit::DecodeImageFile(image);
  if (decoded.height != labels.shape[0] || decoded.width != labels.shape[1]) {
    throw UsageError("--overlay needs the label map at the image's size (leave out --size)");
  }
  WriteFile(overlay_path, beit::EncodeRgbPng(beit::client::OverlayLabels(decoded, labels)));
}

}  // namespace beit::client::cli

#include "model/image/image_processor_config.h"

#include <nlohmann/json.hpp>

#include "model/io/json_file.h"
#include "model/model_error.h"

namespace beit {
namespace {

using nlohmann::json;

[[noreturn]] void Fail(const std::string& source, const std::string& field, const std::string& what, const json& v) {
  throw ModelError(source + ": field '" + field + "' " + what + " (got " + v.dump() + ")");
}

bool PositiveInt(const json& v) { return v.is_number_integer() && v.get<int64_t>() > 0 && v.get<int64_t>() <= 65535; }

void ReadSize(const json& root, const std::string& field, const std::string& source, int64_t* h, int64_t* w) {
  if (!root.contains(field) || root[field].is_null()) return;
  const json& v = root[field];
  if (PositiveInt(v)) {
    *h = *w = v.get<int64_t>();
  } else if (v.is_array() && v.size() == 2 && PositiveInt(v[0]) && PositiveInt(v[1])) {
    *h = v[0].get<int64_t>();
    *w = v[1].get<int64_t>();
  } else if (v.is_object() && v.contains("height") && v.contains("width")) {
    if (!PositiveInt(v["height"]) || !PositiveInt(v["width"])) Fail(source, field, "needs positive height and width", v);
    *h = v["height"].get<int64_t>();
    *w = v["width"].get<int64_t>();
  } else if (v.is_object() && (v.contains("shortest_edge") || v.contains("longest_edge"))) {
    Fail(source, field, "uses shortest_edge/longest_edge, which BeitImageProcessor does not support (it needs "
                        "{\"height\", \"width\"})", v);
  } else {
    Fail(source, field, "must be an int, [height, width] or {\"height\", \"width\"}", v);
  }
}

void ReadBool(const json& root, const std::string& field, const std::string& source, bool* out) {
  if (!root.contains(field) || root[field].is_null()) return;
  if (!root[field].is_boolean()) Fail(source, field, "must be true or false", root[field]);
  *out = root[field].get<bool>();
}

void ReadTriple(const json& root, const std::string& field, const std::string& source, float out[3], bool positive) {
  if (!root.contains(field) || root[field].is_null()) return;
  const json& v = root[field];
  if (v.is_number()) {
    out[0] = out[1] = out[2] = v.get<float>();
  } else if (v.is_array() && v.size() == 3 && v[0].is_number() && v[1].is_number() && v[2].is_number()) {
    for (int i = 0; i < 3; ++i) out[i] = v[i].get<float>();
  } else {
    Fail(source, field, "must be a number or a list of 3 numbers", v);
  }
  if (positive) {
    for (int i = 0; i < 3; ++i) {
      if (!(out[i] > 0.f)) Fail(source, field, "must be positive", v);
    }
  }
}

}  // namespace

int64_t ImageProcessorConfig::output_height() const { return do_center_crop ? crop_height : resize_height; }
int64_t ImageProcessorConfig::output_width() const { return do_center_crop ? crop_width : resize_width; }

ImageProcessorConfig ParseImageProcessorConfig(const std::string& text, const std::string& source) {
  const json root = ParseJsonObject(text, source);
  ImageProcessorConfig c;
  ReadBool(root, "do_resize", source, &c.do_resize);
  ReadSize(root, "size", source, &c.resize_height, &c.resize_width);
  if (root.contains("resample") && !root["resample"].is_null()) {
    const json& v = root["resample"];
    if (!v.is_number_integer() || v.get<int>() < 0 || v.get<int>() > 5) {
      Fail(source, "resample", "must be a PIL filter code 0..5 (NEAREST, LANCZOS, BILINEAR, BICUBIC, BOX, HAMMING)", v);
    }
    c.resample = static_cast<ResampleFilter>(v.get<int>());
  }
  ReadBool(root, "do_center_crop", source, &c.do_center_crop);
  ReadSize(root, "crop_size", source, &c.crop_height, &c.crop_width);
  ReadBool(root, "do_rescale", source, &c.do_rescale);
  if (root.contains("rescale_factor") && !root["rescale_factor"].is_null()) {
    if (!root["rescale_factor"].is_number()) Fail(source, "rescale_factor", "must be a number", root["rescale_factor"]);
    c.rescale_factor = root["rescale_factor"].get<double>();
  }
  ReadBool(root, "do_normalize", source, &c.do_normalize);
  ReadTriple(root, "image_mean", source, c.image_mean, false);
  ReadTriple(root, "image_std", source, c.image_std, true);
  ReadBool(root, "do_reduce_labels", source, &c.do_reduce_labels);
  return c;
}

ImageProcessorConfig LoadImageProcessorConfig(const std::string& path) {
  return ParseImageProcessorConfig(ReadTextFile(path), path);
}

}  // namespace beit

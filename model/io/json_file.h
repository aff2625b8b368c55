// Reading the JSON files of a model folder (config.json, preprocessor_config.json).
//
// Contract: ReadTextFile throws ModelError "<path>: cannot open" when the file is unreadable;
// ParseJsonObject throws ModelError naming `source` when the text is not JSON or not an object.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace beit {

std::string ReadTextFile(const std::string& path);
nlohmann::json ParseJsonObject(const std::string& text, const std::string& source);

}  // namespace beit

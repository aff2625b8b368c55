#include "model/io/json_file.h"

#include <fstream>
#include <sstream>

#include "model/model_error.h"

namespace beit {

std::string ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nlohmann::json ParseJsonObject(const std::string& text, const std::string& source) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number overflow
    throw ModelError(source + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) throw ModelError(source + ": expected a JSON object at top level");
  return root;
}

}  // namespace beit

// The one exception type the model library throws.
//
// Contract: every failure caused by a user-supplied file or input (config.json, model.safetensors,
// tensors passed to Forward) is reported as ModelError with a message that names the file, field or
// tensor at fault, so a person can act on it. Callers (beit-run, the server) catch it at their
// boundary; nothing in model/ calls abort() or exit() on bad input.
#pragma once

#include <stdexcept>
#include <string>

namespace beit {

class ModelError : public std::runtime_error {
 public:
  explicit ModelError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace beit

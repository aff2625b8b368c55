#include "server/core/model_description.h"

namespace beit::serving {

const char* TaskName(Task task) {
  switch (task) {
    case Task::kClassify:
      return "Classify";
    case Task::kSegment:
      return "Segment";
    case Task::kEmbed:
      return "Embed";
    case Task::kPredictTokens:
      return "PredictTokens";
    case Task::kExplain:
      return "Explain";
  }
  return "?";
}

}  // namespace beit::serving

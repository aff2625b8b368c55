// beit.v1 request messages -> the serving core's request (server/core/request_path.h): the image
// and the task's parameters, nothing validated here that the core validates. What only this
// protocol can get wrong is refused here, as INVALID_ARGUMENT:
// - an Image with neither `encoded` nor `pixel_values`;
// - an ExplainMethod or ExplainQuery value the proto does not define.
// The InferenceRequest points into the message (encoded bytes, pixel values): the message must
// outlive the request.
#pragma once

#include "absl/status/status.h"
#include "beit/v1/beit_service.pb.h"
#include "server/core/request_path.h"

namespace beit::serving::beit_v1 {

absl::Status Translate(const beit::v1::ClassifyRequest& request, InferenceRequest* out);
absl::Status Translate(const beit::v1::SegmentRequest& request, InferenceRequest* out);
absl::Status Translate(const beit::v1::EmbedRequest& request, InferenceRequest* out);
absl::Status Translate(const beit::v1::PredictTokensRequest& request, InferenceRequest* out);
absl::Status Translate(const beit::v1::ExplainRequest& request, InferenceRequest* out);

}  // namespace beit::serving::beit_v1

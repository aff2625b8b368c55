// gRPC status codes by name ("OK", "INVALID_ARGUMENT", ...), as metrics labels and logs show them.
#pragma once

namespace beit::serving {

// The canonical name of a gRPC status code (0..16); "UNKNOWN" for anything else.
const char* StatusCodeName(int code);

}  // namespace beit::serving

// beit-client bench: a closed (--concurrency) or open (--rate) loop of one task's calls, one JSON
// line per level (throughput, latency percentiles, errors by status; for beit.v1 also the batch
// sizes and compute time per batch size the answers report).
#pragma once

#include "client/cli_support.h"

namespace beit::client::cli {

// Prints one JSON line per load level (with "served": batch sizes and compute time per batch
// size, from the answers' stats, for beit.v1); returns 0.
int Bench(Session& s);

}  // namespace beit::client::cli

#include "client/cli_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, server, "localhost:50051", "beit-server's gRPC address, HOST:PORT");
ABSL_FLAG(std::string, api, "beit", "beit (beit.v1.BeitService) or v2 (Open Inference Protocol)");
ABSL_FLAG(int, timeout_ms, 60000, "deadline of each call, in milliseconds");
ABSL_FLAG(std::string, tls_ca, "", "PEM CA that signed the server's certificate (enables TLS)");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate (mutual TLS; needs --tls-ca)");
ABSL_FLAG(std::string, tls_key, "", "PEM key of --tls-cert");
ABSL_FLAG(std::string, token_file, "", "file whose contents are sent as 'authorization: Bearer <token>'");
// What to ask.
ABSL_FLAG(std::string, model, "", "the hosted model's name");
ABSL_FLAG(int64_t, model_version, 0, "the model's version (a repository's version folder); 0: the highest ready");
ABSL_FLAG(std::string, image, "", "one JPEG or PNG file (bulk runs take inputs after the command instead)");
ABSL_FLAG(std::optional<int>, top_k, std::nullopt, "how many classes (or tokens) to return");
ABSL_FLAG(std::string, size, "", "output size HxW (segment, explain)");
ABSL_FLAG(bool, scores, false, "segment: also return the per-pixel scores");
ABSL_FLAG(std::string, png, "", "segment: write the label map PNG here; explain: the heat-map overlay");
ABSL_FLAG(std::string, overlay, "", "segment: write the image with class colours blended in");
ABSL_FLAG(bool, l2, false, "embed: L2-normalise the embedding");
ABSL_FLAG(std::string, layers, "", "embed: comma-separated hidden-state indices to return");
ABSL_FLAG(bool, cls, false, "embed --layers: include each layer's CLS token");
ABSL_FLAG(bool, mean, false, "embed --layers: include each layer's mean of patches");
ABSL_FLAG(bool, patches, false, "embed --layers: include each layer's patch tokens");
ABSL_FLAG(std::string, npy, "", "embed: write the embedding (bulk: the matrix) as .npy here");
ABSL_FLAG(std::optional<double>, mask_ratio, std::nullopt, "predict-tokens: share of patches to mask");
ABSL_FLAG(uint64_t, seed, 0, "predict-tokens: seed of the blockwise mask");
ABSL_FLAG(std::string, mask, "", "predict-tokens: explicit mask, comma-separated 0/1 per patch");
ABSL_FLAG(std::string, service, "", "health: the grpc.health.v1 service name");
ABSL_FLAG(std::string, method, "rollout", "explain: rollout or last-layer");
ABSL_FLAG(std::string, query, "", "explain: cls or mean-patches (default: the model's pooling)");
ABSL_FLAG(std::optional<int>, head, std::nullopt, "explain --method last-layer: one head (default: their mean)");
ABSL_FLAG(bool, typed, false, "--api v2: send inputs as typed contents instead of raw_input_contents");
// bench
ABSL_FLAG(std::string, task, "classify", "bench: classify, segment, embed, predict-tokens or explain");
ABSL_FLAG(std::string, concurrency, "",
          "bench: comma-separated in-flight levels (default 1); bulk runs: calls in flight (default 4)");
ABSL_FLAG(std::optional<double>, rate, std::nullopt, "bench: open loop at this many calls per second");
ABSL_FLAG(double, duration_s, 10, "bench: seconds per level");
ABSL_FLAG(double, warmup_s, 1, "bench: warm-up seconds before each level");
ABSL_FLAG(int, max_in_flight, 64, "bench --rate: most calls in flight");
// Bulk runs.
ABSL_FLAG(std::string, output, "", "bulk: results file, one record per input (.jsonl, or .csv)");
ABSL_FLAG(std::string, output_dir, "", "bulk segment/explain: PNGs go here, named after the inputs");
ABSL_FLAG(bool, resume, false, "bulk: continue --output, skipping the files it already records");
ABSL_FLAG(bool, retry_failed, false, "bulk --resume: run the files whose record is an error again");
ABSL_FLAG(std::string, progress, "auto", "bulk: auto (a bar on a terminal, lines otherwise), bar, lines or none");
ABSL_FLAG(double, progress_interval_s, 10, "bulk: seconds between progress lines when not a bar");

// beit-client: command-line client for beit-server: beit.v1.BeitService, or with --api v2 the
// Open Inference Protocol (KServe v2, inference.GRPCInferenceService).
// One image (--image FILE): the answer prints as JSON on stdout. Many images (directories, globs,
// @lists after the command): one record per file in --output, progress on stderr.
// Flags are Abseil flags (either '-' or '_' in their names, anywhere on the line). Errors print
// the gRPC status on stderr (exit 1); usage errors, including a command or flag --api v2 has no
// equivalent for, exit 2; a bulk run exits 1 when any file failed and 130 when interrupted.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "beit/v1/beit_service.grpc.pb.h"
#include "client/beit_v1_commands.h"
#include "client/bench_command.h"
#include "client/bulk_command.h"
#include "client/cli_flags.h"
#include "client/cli_support.h"
#include "client/npy_writer.h"
#include "client/open_inference_client.h"
#include "client/open_inference_commands.h"

namespace {

using namespace beit::client::cli;
using absl::GetFlag;

constexpr const char* kUsage = R"(beit-client: talks to beit-server.

Usage: beit-client [--server HOST:PORT] [--api beit|v2] [--timeout-ms N]
                   [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [--token-file FILE] COMMAND [flags] [INPUTS...]
Every command with --model also takes --model-version N (a model repository's version; default 0:
the highest ready); answers carry "model_version", the version that computed them.

Commands (--api beit, the default: beit.v1.BeitService)
  classify        --model M --image FILE [--top-k K]
  segment         --model M --image FILE [--size HxW] [--scores] [--png LABELS.png] [--overlay OVERLAY.png]
                  (--png: the label map as a PNG; --overlay: the image with class colours blended in)
  embed           --model M --image FILE [--l2] [--layers 0,4,12] [--cls] [--mean] [--patches] [--npy OUT.npy]
                  (--npy writes the pooled embedding; JSON always has everything)
  predict-tokens  --model M --image FILE (--mask-ratio R [--seed S] | --mask 0,1,1,...) [--top-k K]
  info            [--model M]            (without --model: every hosted model)
  health          [--service NAME]       grpc.health.v1 check; exit 0 only when SERVING (container probes)
  explain         --model M --image FILE [--method rollout|last-layer] [--query cls|mean-patches]
                  [--head H] [--size HxW] [--top-k K] [--png OVERLAY.png]
                  (attention map on the patch grid; --png writes the heat-map overlay)
  bench           --model M --image FILE [--task classify|segment|embed|predict-tokens|explain]
                  [--concurrency 1,2,4,8 | --rate CALLS_PER_S] [--duration-s 10] [--warmup-s 1]
                  [--max-in-flight 64]   (one JSON line per level: throughput, p50/p90/p99, errors by status)

Many images (classify, segment, embed, explain; with --api v2: classify, segment, embed)
  COMMAND --model M [the command's flags] --output results.jsonl|results.csv INPUTS...
          [--concurrency 4] [--output-dir DIR] [--npy embeddings.npy] [--resume [--retry-failed]] [--progress auto|bar|lines|none]
  INPUTS are files, directories (their .jpg/.jpeg/.png files, recursively), quoted globs ('shots/*.jpg')
  and @list.txt (one input per line). One record per file goes to --output: path, ok, ms, and the
  answer or the error. With --output-dir, segment and explain write each file's PNG (label map;
  heat-map overlay) as DIR/<input path>.png; embed appends each embedding as a row of a float32 .npy
  (--npy, default: --output with .npy) and its path as that row's line of <npy stem>.index.txt.
  A failed file is recorded and the run goes on. --resume skips the files already in --output
  (with --retry-failed it runs the failed ones again); the summary counts the whole output.
  Progress goes to stderr: a bar on a terminal, a line every --progress-interval-s otherwise.
  Ctrl-C starts no new file, waits for the ones in flight and writes the summary (a second quits).
  --concurrency is 1 to 256. Exit code: 0 every file answered, 1 some failed (or an output file
  cannot be written), 130 interrupted, 2 usage error (an existing --output without --resume too).

Commands with --api v2 (Open Inference Protocol / KServe v2: inference.GRPCInferenceService)
  classify        --model M --image FILE [--top-k K]
                  (ModelInfer, output `probabilities` with classification: K; same JSON as above, no stats)
  segment         --model M --image FILE [--size HxW] [--png LABELS.png] [--overlay OVERLAY.png]
                  (output `label_map`; class_counts give index and pixels: v2 metadata has no labels)
  embed           --model M --image FILE [--npy OUT.npy]             (output `pooler_output`)
  predict-tokens  --model M --image FILE (--mask-ratio R [--seed S] | --mask 0,1,1,...)
                  (output `predicted_tokens`: the argmax token of each masked patch, -1 elsewhere)
  info            [--model M]            ModelMetadata; without --model: ServerMetadata
  health          [--model M]            ServerReady (ModelReady with --model); exit 0 only when ready
  bench           as above; each call is one ModelInfer of the --task's request above (BYTES `image`)
  --typed         (classify, segment, embed, predict-tokens, bench) send the inputs as typed contents
                  instead of raw_input_contents
  Not available with --api v2 (exit 2): segment --scores; embed --l2, --layers, --cls, --mean,
  --patches; predict-tokens --top-k; health --service; explain.

Defaults: --server localhost:50051, --api beit, --timeout-ms 60000. FILE is a JPEG or PNG.
Flags may come anywhere on the line and be spelled with '-' or '_' (--top-k, --top_k).
Bench lines carry "api": "beit" or "v2", so both APIs' throughput can be compared.
TLS: --tls-ca is the PEM CA that signed the server's certificate; --tls-cert/--tls-key present a
client certificate (mutual TLS). --token-file sends 'authorization: Bearer <token>' on every call.
)";

}  // namespace

int main(int argc, char** argv) {
  try {
    // Flags anywhere on the line, with '-' or '_', one dash or two; an input named "-5.png" must be
    // written "./-5.png" or after "--".
    const beit::cli::CommandLine command_line = beit::cli::ParseCommandLine(std::vector<std::string>(argv, argv + argc));
    if (command_line.help) {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const std::vector<std::string>& positional = command_line.positional;
    if (positional.empty()) throw UsageError("no command given");
    const std::string command = positional[0];
    const std::vector<std::string> inputs(positional.begin() + 1, positional.end());

    Session session;
    session.api = GetFlag(FLAGS_api);
    if (session.api != "beit" && session.api != "v2") throw UsageError("--api: expected beit or v2");
    session.timeout_ms = GetFlag(FLAGS_timeout_ms);
    if (!GetFlag(FLAGS_token_file).empty()) {
      session.token = std::string(absl::StripAsciiWhitespace(ReadFile(GetFlag(FLAGS_token_file))));
    }
    if (session.api == "beit" && GetFlag(FLAGS_typed)) throw UsageError("--typed needs --api v2");
    grpc::ChannelArguments channel_args;
    channel_args.SetMaxReceiveMessageSize(256 << 20);
    channel_args.SetMaxSendMessageSize(256 << 20);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!GetFlag(FLAGS_tls_ca).empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ReadFile(GetFlag(FLAGS_tls_ca));
      if (!GetFlag(FLAGS_tls_cert).empty()) ssl.pem_cert_chain = ReadFile(GetFlag(FLAGS_tls_cert));
      if (!GetFlag(FLAGS_tls_key).empty()) ssl.pem_private_key = ReadFile(GetFlag(FLAGS_tls_key));
      credentials = grpc::SslCredentials(ssl);
    } else if (!GetFlag(FLAGS_tls_cert).empty() || !GetFlag(FLAGS_tls_key).empty()) {
      throw UsageError("--tls-cert/--tls-key need --tls-ca");
    }
    const auto channel = grpc::CreateCustomChannel(GetFlag(FLAGS_server), credentials, channel_args);
    session.stub = pb::BeitService::NewStub(channel);
    if (session.api == "v2") {
      const Session* prepare = &session;
      session.v2 = std::make_unique<beit::client::OpenInferenceClient>(
          channel, [prepare](grpc::ClientContext& context) { prepare->Prepare(context); });
      if (GetFlag(FLAGS_typed) && (command == "info" || command == "health")) {
        throw UsageError("--typed is for the commands that run ModelInfer, not " + command);
      }
    }
    if (!inputs.empty()) return RunMany(session, command, inputs);
    if (!GetFlag(FLAGS_output).empty()) throw UsageError("--output is for many inputs: give them after the command");

    const bool v2 = session.api == "v2";
    const ImageOutputs outputs{GetFlag(FLAGS_png), GetFlag(FLAGS_overlay)};
    json out;
    if (command == "classify") {
      const std::string image = Required(FLAGS_image, "image");
      out = v2 ? V2Classify(session, image) : Classify(session, image);
    } else if (command == "segment") {
      const std::string image = Required(FLAGS_image, "image");
      out = v2 ? V2Segment(session, image, outputs) : Segment(session, image, outputs);
    } else if (command == "embed") {
      const std::string image = Required(FLAGS_image, "image");
      out = v2 ? V2Embed(session, image) : Embed(session, image);
      if (!GetFlag(FLAGS_npy).empty()) {
        const std::vector<float> embedding = out["embedding"].get<std::vector<float>>();
        beit::client::WriteNpy(GetFlag(FLAGS_npy), {static_cast<int64_t>(embedding.size())}, embedding);
        out["npy"] = GetFlag(FLAGS_npy);
      }
    } else if (command == "predict-tokens") {
      const std::string image = Required(FLAGS_image, "image");
      out = v2 ? V2PredictTokens(session, image) : PredictTokens(session, image);
    } else if (command == "explain" && !v2) {
      out = Explain(session, Required(FLAGS_image, "image"), GetFlag(FLAGS_png));
    } else if (command == "info") {
      out = v2 ? V2Info(session) : Info(session);
    } else if (command == "bench") {
      return Bench(session);
    } else if (command == "health") {
      return v2 ? V2Health(session) : Health(channel, session);
    } else {
      throw UsageError("unknown command '" + command + (v2 ? "' with --api v2" : "'"));
    }
    std::cout << out.dump(2, ' ', false, json::error_handler_t::replace) << std::endl;  // paths may not be UTF-8
    return 0;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "beit-client: %s\n\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beit-client: %s\n", e.what());
    return 1;
  }
}


// The HTTP/REST server in process, over a real executor and the tiny classification model: every
// route, JSON and binary inference, errors as JSON with their HTTP codes, body limits (also for
// chunked uploads), the bearer token, observers, and Stop() letting a request in flight finish.
#include "server/open_inference/http_inference_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <httplib.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/core/model_repository.h"
#include "server/open_inference/http_json_codec.h"
#include "server/core/worker_pool.h"

namespace beit::serving::open_inference {
namespace {

using nlohmann::json;

class RecordingObserver : public ServingObserver {
 public:
  void RequestFinished(const RequestRecord& record) override {
    std::lock_guard<std::mutex> lock(mu_);
    records_.push_back(record);
  }
  void BatchStarted(const std::string&, const std::string&, int) override {}
  void BatchFinished(const std::string&, const std::string&, int, int, double) override {}
  std::vector<RequestRecord> records() {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }

 private:
  std::mutex mu_;
  std::vector<RequestRecord> records_;
};

// One hosted model ("cls", 5 labels, 32×32 images), an executor and an HTTP server on a free port.
struct Harness {
  explicit Harness(const BearerTokenAuth* auth = nullptr, HttpServerOptions options = {},
                   BatcherOptions batching = {}) {
    std::vector<std::string> warnings;
    models.Load({{"cls", std::string(BEIT_TEST_DATA_DIR) + "/models/cls-relpos-meanpool"}}, batching, {}, nullptr,
                &warnings);
    executor = std::make_unique<InferenceExecutor>(&models, &workers, "9.9");
    server = std::make_unique<HttpInferenceServer>(executor.get(), std::vector<ServingObserver*>{&observer}, auth,
                                                   std::move(options));
    absl::StatusOr<int> bound = server->Start("127.0.0.1", 0);
    EXPECT_TRUE(bound.ok()) << bound.status();
    port = bound.ok() ? *bound : -1;
  }
  ~Harness() {
    server->Stop();
    workers.Shutdown();
    models.ShutdownAll();
  }
  std::unique_ptr<httplib::Client> Client() const {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", port);
    client->set_connection_timeout(5, 0);
    client->set_read_timeout(30, 0);
    return client;
  }

  ModelRepository models;
  WorkerPool workers{2, 256};
  std::unique_ptr<InferenceExecutor> executor;
  RecordingObserver observer;
  std::unique_ptr<HttpInferenceServer> server;
  int port = -1;
};

std::string PixelsJson(int batch, const std::string& extra = "") {
  std::string data;
  for (int i = 0; i < batch * 3 * 32 * 32; ++i) {
    data += i ? "," : "";
    data += std::to_string(((i * 7) % 17 - 8) / 8.0);
  }
  return R"({"id":"q1","inputs":[{"name":"pixel_values","datatype":"FP32","shape":[)" + std::to_string(batch) +
         R"(,3,32,32],"data":[)" + data + "]}]" + extra + "}";
}

std::string FloatsRaw(const std::vector<float>& values) {
  std::string raw(values.size() * 4, '\0');
  std::memcpy(raw.data(), values.data(), raw.size());  // x86: little-endian already
  return raw;
}

void ExpectJsonError(const httplib::Result& r, int status, const std::string& fragment) {
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  json j = json::parse(r->body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
  EXPECT_NE(j["error"].get<std::string>().find(fragment), std::string::npos) << r->body;
}

TEST(HttpInferenceServer, HealthMetadataAndReadiness) {
  Harness h;
  auto client = h.Client();
  auto live = client->Get("/v2/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_TRUE(live->body.empty());
  ExpectJsonError(client->Get("/v2/health/ready"), 503, "not ready");
  ExpectJsonError(client->Get("/v2/models/cls/ready"), 503, "not ready");
  h.executor->SetReady(true);
  EXPECT_EQ(client->Get("/v2/health/ready")->status, 200);
  EXPECT_EQ(client->Get("/v2/models/cls/ready")->status, 200);
  EXPECT_EQ(client->Get("/v2/models/cls/versions/1/ready")->status, 200);
  ExpectJsonError(client->Get("/v2/models/cls/versions/2/ready"), 404, "version");
  ExpectJsonError(client->Get("/v2/models/nope/ready"), 404, "nope");

  auto server = client->Get("/v2");
  ASSERT_TRUE(server);
  EXPECT_EQ(server->status, 200);
  json s = json::parse(server->body);
  EXPECT_EQ(s["name"], "beit-serve");
  EXPECT_EQ(s["version"], "9.9");
  EXPECT_TRUE(s["extensions"].is_array());

  for (const char* path : {"/v2/models/cls", "/v2/models/cls/versions/1"}) {
    auto model = client->Get(path);
    ASSERT_TRUE(model);
    EXPECT_EQ(model->status, 200) << path;
    json m = json::parse(model->body);
    EXPECT_EQ(m["name"], "cls");
    EXPECT_EQ(m["versions"], json::array({"1"}));
    bool has_pixels = false;
    for (const json& input : m["inputs"]) has_pixels |= input["name"] == "pixel_values";
    EXPECT_TRUE(has_pixels) << model->body;
  }
  ExpectJsonError(client->Get("/v2/models/nope"), 404, "nope");
  ExpectJsonError(client->Get("/v2/models/cls/versions/7"), 404, "version");
  ExpectJsonError(client->Get("/v2/elsewhere"), 404, "no route for GET /v2/elsewhere");
  ExpectJsonError(client->Post("/v2/models/cls/ready", "", "application/json"), 404, "no route");
  // Long paths (just below cpp-httplib's 8 KiB request line, and beyond it): routing by regex
  // must neither crash nor hang.
  for (size_t length : {8000, 200000}) {
    const std::string name(length, 'a');
    for (const std::string& path : {"/v2/models/" + name, "/v2/models/" + name + "/versions/1/ready"}) {
      auto r = client->Get(path);
      ASSERT_TRUE(r) << length;
      EXPECT_TRUE(r->status == 404 || r->status == 414) << r->status;
    }
    auto r = client->Post("/v2/models/" + name + "/infer", PixelsJson(1), "application/json");
    ASSERT_TRUE(r) << length;
    EXPECT_TRUE(r->status == 404 || r->status == 414) << r->status;
  }

  std::vector<std::string> rpcs;
  for (const RequestRecord& r : h.observer.records()) {
    EXPECT_EQ(r.api, "v2_http");
    rpcs.push_back(r.rpc);
  }
  for (const char* rpc : {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata"}) {
    EXPECT_NE(std::find(rpcs.begin(), rpcs.end(), rpc), rpcs.end()) << rpc;
  }
}

TEST(HttpInferenceServer, InfersInJsonAndBinaryWithTheSameAnswer) {
  Harness h;
  h.executor->SetReady(true);
  auto client = h.Client();
  auto r = client->Post("/v2/models/cls/infer", PixelsJson(2, R"(,"outputs":[{"name":"probabilities"}])"),
                        "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_FALSE(r->has_header(kInferenceHeaderContentLength));
  json j = json::parse(r->body);
  EXPECT_EQ(j["model_name"], "cls");
  EXPECT_EQ(j["model_version"], "1");
  EXPECT_EQ(j["id"], "q1");
  ASSERT_EQ(j["outputs"].size(), 1u);
  EXPECT_EQ(j["outputs"][0]["name"], "probabilities");
  EXPECT_EQ(j["outputs"][0]["shape"], json::parse("[2,5]"));
  std::vector<float> probabilities = j["outputs"][0]["data"].get<std::vector<float>>();
  ASSERT_EQ(probabilities.size(), 10u);
  EXPECT_NEAR(probabilities[0] + probabilities[1] + probabilities[2] + probabilities[3] + probabilities[4], 1.f, 1e-4);

  // The same pixels as binary data, the answer asked for in binary.
  std::vector<float> pixels;
  for (int i = 0; i < 2 * 3 * 32 * 32; ++i) pixels.push_back(static_cast<float>(((i * 7) % 17 - 8) / 8.0));
  const std::string header =
      R"({"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[2,3,32,32],"parameters":{"binary_data_size":)" +
      std::to_string(pixels.size() * 4) +
      R"(}}],"outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]})";
  httplib::Headers headers = {{kInferenceHeaderContentLength, std::to_string(header.size())}};
  auto b =
      client->Post("/v2/models/cls/versions/1/infer", headers, header + FloatsRaw(pixels), "application/octet-stream");
  ASSERT_TRUE(b);
  ASSERT_EQ(b->status, 200) << b->body;
  EXPECT_EQ(b->get_header_value("Content-Type"), "application/octet-stream");
  ASSERT_TRUE(b->has_header(kInferenceHeaderContentLength));
  const size_t json_length = std::stoul(b->get_header_value(kInferenceHeaderContentLength));
  ASSERT_LE(json_length, b->body.size());
  json bj = json::parse(b->body.substr(0, json_length));
  EXPECT_EQ(bj["outputs"][0]["parameters"]["binary_data_size"], 40);
  ASSERT_EQ(b->body.size() - json_length, 40u);
  std::vector<float> binary(10);
  std::memcpy(binary.data(), b->body.data() + json_length, 40);
  for (size_t i = 0; i < 10; ++i) EXPECT_NEAR(binary[i], probabilities[i], 1e-6) << i;

  int infers = 0;
  for (const RequestRecord& record : h.observer.records()) {
    if (record.rpc != "ModelInfer") continue;
    ++infers;
    EXPECT_EQ(record.model, "cls");
    EXPECT_EQ(record.code, 0);
    EXPECT_GE(record.batch_size, 1);
    EXPECT_GT(record.total_seconds, 0);
  }
  EXPECT_EQ(infers, 2);
}

TEST(HttpInferenceServer, ErrorsAreJsonWithTheirHttpCodes) {
  HttpServerOptions options;
  options.limits.max_body_bytes = 256 << 10;
  Harness h(nullptr, options);
  h.executor->SetReady(true);
  auto client = h.Client();
  ExpectJsonError(client->Post("/v2/models/cls/infer", "{nope", "application/json"), 400, "not valid JSON");
  ExpectJsonError(client->Post("/v2/models/other/infer", PixelsJson(1), "application/json"), 404, "other");
  ExpectJsonError(client->Post("/v2/models/cls/versions/3/infer", PixelsJson(1), "application/json"), 404, "3");
  ExpectJsonError(
      client->Post("/v2/models/cls/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})",
                   "application/json"),
      400, "x");
  ExpectJsonError(
      client->Post("/v2/models/cls/infer", {{kInferenceHeaderContentLength, "abc"}}, PixelsJson(1), "application/json"),
      400, "Inference-Header-Content-Length");
  ExpectJsonError(client->Post("/v2/models/cls/infer", {{kInferenceHeaderContentLength, "999999"}}, PixelsJson(1),
                               "application/json"),
                  400, "Inference-Header-Content-Length");
  ExpectJsonError(client->Post("/v2/models/cls/infer", {{"Timeout-Ms", "soon"}}, PixelsJson(1), "application/json"),
                  400, "Timeout-Ms");
  EXPECT_EQ(client->Post("/v2/models/cls/infer", {{"Timeout-Ms", "60000"}}, PixelsJson(1), "application/json")->status,
            200);

  // Too large: with a Content-Length, and chunked (no length at all).
  const std::string big(300 << 10, ' ');
  ExpectJsonError(client->Post("/v2/models/cls/infer", big, "application/json"), 413, "larger than");
  auto chunked = h.Client();
  auto r = chunked->Post(
      "/v2/models/cls/infer",
      [&](size_t offset, httplib::DataSink& sink) {
        if (offset >= big.size()) {
          sink.done();
          return true;
        }
        return sink.write(big.data(), 64 << 10);
      },
      "application/json");
  if (r) {  // the client may still be sending when the server answers and closes
    ExpectJsonError(r, 413, "larger than");
  }
  // Compressed bodies count after decompression (a small gzip body must not become gigabytes).
  auto gzip = h.Client();
  gzip->set_compress(true);
  EXPECT_EQ(gzip->Post("/v2/models/cls/infer", PixelsJson(1), "application/json")->status, 200);
  auto bomb = h.Client();
  bomb->set_compress(true);
  auto inflated = bomb->Post("/v2/models/cls/infer", std::string(8 << 20, ' '), "application/json");
  ASSERT_TRUE(inflated) << httplib::to_string(inflated.error());
  ExpectJsonError(inflated, 413, "larger than");
  // The server still answers afterwards.
  EXPECT_EQ(h.Client()->Post("/v2/models/cls/infer", PixelsJson(1), "application/json")->status, 200);

  std::vector<int> codes;
  for (const RequestRecord& record : h.observer.records()) {
    if (record.rpc == "ModelInfer") codes.push_back(record.code);
  }
  EXPECT_NE(std::find(codes.begin(), codes.end(), static_cast<int>(absl::StatusCode::kResourceExhausted)), codes.end());
  EXPECT_NE(std::find(codes.begin(), codes.end(), static_cast<int>(absl::StatusCode::kNotFound)), codes.end());
  EXPECT_NE(std::find(codes.begin(), codes.end(), static_cast<int>(absl::StatusCode::kInvalidArgument)), codes.end());
}

TEST(HttpInferenceServer, TokenIsNeededEverywhereButHealth) {
  BearerTokenAuth auth("tok-123");
  Harness h(&auth);
  h.executor->SetReady(true);
  auto client = h.Client();
  EXPECT_EQ(client->Get("/v2/health/live")->status, 200);
  EXPECT_EQ(client->Get("/v2/health/ready")->status, 200);
  ExpectJsonError(client->Get("/v2"), 401, "Authorization: Bearer");
  ExpectJsonError(client->Get("/v2/models/cls"), 401, "Authorization");
  ExpectJsonError(client->Get("/v2/models/cls/ready"), 401, "Authorization");
  ExpectJsonError(client->Post("/v2/models/cls/infer", PixelsJson(1), "application/json"), 401, "Authorization");
  ExpectJsonError(
      client->Post("/v2/models/cls/infer", {{"Authorization", "Bearer tok-124"}}, PixelsJson(1), "application/json"),
      401, "not valid");
  // Unauthenticated requests leave the connection usable.
  const httplib::Headers good = {{"Authorization", "Bearer tok-123"}};
  EXPECT_EQ(client->Get("/v2", good)->status, 200);
  EXPECT_EQ(client->Get("/v2/models/cls", good)->status, 200);
  EXPECT_EQ(client->Post("/v2/models/cls/infer", good, PixelsJson(1), "application/json")->status, 200);
}

TEST(HttpInferenceServer, ConcurrentRequestsShareBatches) {
  BatcherOptions batching;
  batching.max_batch_size = 4;
  batching.max_queue_delay_us = 200000;
  Harness h(nullptr, {}, batching);
  h.executor->SetReady(true);
  std::vector<std::future<int>> answers;
  for (int i = 0; i < 8; ++i) {
    answers.push_back(std::async(std::launch::async, [&h] {
      auto r = h.Client()->Post("/v2/models/cls/infer", PixelsJson(1), "application/json");
      return r ? r->status : -1;
    }));
  }
  for (auto& a : answers) EXPECT_EQ(a.get(), 200);
  int largest = 0;
  for (const RequestRecord& record : h.observer.records()) largest = std::max(largest, record.batch_size);
  EXPECT_GE(largest, 2) << "concurrent HTTP requests were never batched together";
}

// cpp-httplib's own listen backlog (5) drops a burst of connects, which then wait 1 s for a SYN
// retransmission; the server raises it.
TEST(HttpInferenceServer, BurstsOfConnectionsAreNotDelayed) {
  Harness h;
  std::vector<std::future<double>> seconds;
  for (int i = 0; i < 24; ++i) {
    seconds.push_back(std::async(std::launch::async, [&h] {
      const auto start = std::chrono::steady_clock::now();
      auto r = h.Client()->Get("/v2/health/live");
      EXPECT_TRUE(r && r->status == 200);
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }));
  }
  for (auto& s : seconds) EXPECT_LT(s.get(), 0.9);
}

TEST(HttpInferenceServer, StopLetsTheRequestInFlightFinish) {
  BatcherOptions batching;
  batching.max_batch_size = 8;
  batching.max_queue_delay_us = 1000000;  // a lone request waits 1 s for company
  Harness h(nullptr, {}, batching);
  h.executor->SetReady(true);
  auto answer = std::async(std::launch::async, [&h] {
    auto r = h.Client()->Post("/v2/models/cls/infer", PixelsJson(1), "application/json");
    return r ? r->status : -1;
  });
  // Stop once the request waits in the batcher.
  auto* batcher = (*h.models.Find("cls"))->classify();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (batcher->Stats().queued == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(batcher->Stats().queued, 1);
  h.server->Stop();
  EXPECT_EQ(batcher->Stats().requests_computed, 1) << "Stop() returned before the request was answered";
  EXPECT_EQ(answer.get(), 200);
  // Nothing listens any more.
  auto late = h.Client()->Get("/v2/health/live");
  EXPECT_FALSE(late);
}

// A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
std::string MakeCertificates() {
  const std::string d = ::testing::TempDir() + "/beit_http_tls_" + std::to_string(getpid());
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "set -e; rm -rf " + d + "; mkdir -p " + d + "; cd " + d + ";" + "openssl req -x509 " + key +
      " -keyout ca.key -out ca.pem -days 2 -subj /CN=http-test-ca 2>/dev/null;" + "openssl req " + key +
      " -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null;" +
      "printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext;" +
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2"
      " -extfile server.ext 2>/dev/null;" +
      "openssl req " + key + " -keyout client.key -out client.csr -subj /CN=http-test-client 2>/dev/null;" +
      "printf 'extendedKeyUsage=clientAuth\\n' > client.ext;" +
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2"
      " -extfile client.ext 2>/dev/null";
  EXPECT_EQ(std::system(("bash -c \"" + script + "\"").c_str()), 0) << "openssl failed";
  return d;
}

TEST(HttpInferenceServer, ServesHttpsAndRequiresClientCertificatesWithAClientCa) {
  const std::string d = MakeCertificates();
  HttpServerOptions options;
  options.tls_cert = d + "/server.pem";
  options.tls_key = d + "/server.key";
  options.tls_client_ca = d + "/ca.pem";
  options.header_timeout_s = 1;
  Harness h(nullptr, options);
  ASSERT_GT(h.port, 0);
  h.executor->SetReady(true);
  // Connections that never finish the TLS handshake are cut by the header deadline.
  const auto opened = std::chrono::steady_clock::now();
  std::vector<int> stalled;
  for (const std::string& first_bytes : {std::string(), std::string("\x16\x03\x01\x00", 4)}) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(h.port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    if (!first_bytes.empty()) ::send(fd, first_bytes.data(), first_bytes.size(), MSG_NOSIGNAL);
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    stalled.push_back(fd);
  }
  for (int fd : stalled) {
    char byte;
    EXPECT_EQ(::recv(fd, &byte, 1, 0), 0) << "a stalled TLS handshake was not closed";
    ::close(fd);
  }
  const double closed_after =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - opened).count();
  EXPECT_GE(closed_after, 0.9);
  EXPECT_LT(closed_after, 2.0);
  auto client = [&](bool with_certificate) {
    auto c = with_certificate
                 ? std::make_unique<httplib::SSLClient>("127.0.0.1", h.port, d + "/client.pem", d + "/client.key")
                 : std::make_unique<httplib::SSLClient>("127.0.0.1", h.port);
    c->set_ca_cert_path((d + "/ca.pem").c_str());
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(30, 0);
    return c;
  };
  auto mutual = client(true);
  auto r = mutual->Post("/v2/models/cls/infer", PixelsJson(1), "application/json");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_FALSE(client(false)->Get("/v2/health/live")) << "no client certificate, no answer";
  httplib::Client plain("127.0.0.1", h.port);
  plain.set_connection_timeout(5, 0);
  plain.set_read_timeout(5, 0);
  auto cleartext = plain.Get("/v2/health/live");
  EXPECT_TRUE(!cleartext || cleartext->status != 200);
  std::system(("rm -rf " + d).c_str());
}

TEST(HttpInferenceServer, StartRefusesUnusableTlsFiles) {
  ModelRepository models;
  WorkerPool workers(1, 4);
  InferenceExecutor executor(&models, &workers, "9.9");
  HttpServerOptions options;
  options.tls_cert = "/nonexistent/cert.pem";
  options.tls_key = "/nonexistent/key.pem";
  HttpInferenceServer server(&executor, {}, nullptr, options);
  absl::StatusOr<int> r = server.Start("127.0.0.1", 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  HttpServerOptions half;
  half.tls_cert = "/nonexistent/cert.pem";
  HttpInferenceServer half_server(&executor, {}, nullptr, half);
  EXPECT_EQ(half_server.Start("127.0.0.1", 0).status().code(), absl::StatusCode::kInvalidArgument);
  workers.Shutdown();
}

}  // namespace
}  // namespace beit::serving::open_inference

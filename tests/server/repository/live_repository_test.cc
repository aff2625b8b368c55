// The live model repository through a real beit-server: the repository extension on gRPC and
// HTTP, versions in both doors and beit.v1, metrics; and under load, a version copied in and one
// removed while 8 clients send without pause, with no request lost and every answer computed by
// the version it names.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "beit/v1/beit_service.grpc.pb.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "tests/server/fixture_data.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {
namespace fs = std::filesystem;
namespace v2 = inference;
namespace pb = beit::v1;

// The two checkpoints used as versions: 5 and 7 labels, so an answer shows which one computed it.
const std::string kFiveLabels = ModelDir("cls-relpos-meanpool");
const std::string kSevenLabels = ModelDir("cls-abspos-clstoken");

void CopyModel(const std::string& from, const fs::path& to, std::chrono::milliseconds between_files = {}) {
  fs::create_directories(to);
  for (const char* file : {"config.json", "preprocessor_config.json", "model.safetensors"}) {
    fs::copy_file(fs::path(from) / file, to / file, fs::copy_options::overwrite_existing);
    std::this_thread::sleep_for(between_files);
  }
}

class LiveRepository : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("beit-live-repo-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    CopyModel(kFiveLabels, root_ / "cls" / "1");
  }
  void TearDown() override {
    if (server_.pid() > 0) {
      server_.Signal(SIGTERM);
      EXPECT_EQ(server_.WaitForExit(30), 0) << server_.log();
    }
    fs::remove_all(root_);
  }
  void Start(const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"--model-repository", root_.string()};
    args.insert(args.end(), flags.begin(), flags.end());
    std::string error;
    ASSERT_TRUE(server_.Start(args, &error)) << error;
    v2_ = v2::GRPCInferenceService::NewStub(server_.channel());
    v1_ = pb::BeitService::NewStub(server_.channel());
  }
  v2::ModelInferRequest Request(const std::string& model, const std::string& version = "") {
    v2::ModelInferRequest request;
    request.set_model_name(model);
    request.set_model_version(version);
    auto* input = request.add_inputs();
    input->set_name("image");
    input->set_datatype("BYTES");
    input->add_shape(1);
    input->mutable_contents()->add_bytes_contents(image_);
    request.add_outputs()->set_name("logits");
    return request;
  }
  grpc::Status Infer(const v2::ModelInferRequest& request, v2::ModelInferResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return v2_->ModelInfer(&context, request, response);
  }
  std::vector<std::string> IndexLines(bool ready_only = false) {
    grpc::ClientContext context;
    v2::RepositoryIndexRequest request;
    request.set_ready(ready_only);
    v2::RepositoryIndexResponse response;
    EXPECT_TRUE(v2_->RepositoryIndex(&context, request, &response).ok());
    std::vector<std::string> lines;
    for (const auto& m : response.models()) lines.push_back(m.name() + "/" + m.version() + " " + m.state());
    return lines;
  }
  grpc::Status Load(const std::string& name) {
    grpc::ClientContext context;
    v2::RepositoryModelLoadRequest request;
    request.set_model_name(name);
    v2::RepositoryModelLoadResponse response;
    return v2_->RepositoryModelLoad(&context, request, &response);
  }
  std::string Metrics() {
    httplib::Client client("127.0.0.1", server_.metrics_port());
    auto result = client.Get("/metrics");
    return result ? result->body : "";
  }

  fs::path root_;
  ServerProcess server_;
  std::unique_ptr<v2::GRPCInferenceService::Stub> v2_;
  std::unique_ptr<pb::BeitService::Stub> v1_;
  const std::string image_ = TestImageBytes("chelsea_q90_420.jpg");
};

TEST_F(LiveRepository, ExplicitModeStartsEmptyLoadsServesUnloadsAndLoadsAgain) {
  Start({"--model-control-mode", "explicit"});
  EXPECT_EQ(IndexLines(), (std::vector<std::string>{"cls/1 UNAVAILABLE"}));
  EXPECT_TRUE(IndexLines(true).empty());
  v2::ModelInferResponse response;
  EXPECT_EQ(Infer(Request("cls"), &response).error_code(), grpc::StatusCode::NOT_FOUND);
  {
    grpc::ClientContext context;
    v2::ServerMetadataResponse metadata;
    ASSERT_TRUE(v2_->ServerMetadata(&context, {}, &metadata).ok());
    EXPECT_NE(std::find(metadata.extensions().begin(), metadata.extensions().end(), "model_repository"),
              metadata.extensions().end());
  }

  ASSERT_TRUE(Load("cls").ok());
  EXPECT_EQ(IndexLines(), (std::vector<std::string>{"cls/1 READY"}));
  grpc::Status s = Infer(Request("cls"), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.model_version(), "1");
  s = Infer(Request("cls", "1"), &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  s = Infer(Request("cls", "2"), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "model 'cls' has no version 2; versions ready: 1");

  // beit.v1: the version asked and the version that answered; ListModels with states.
  {
    grpc::ClientContext context;
    pb::ClassifyRequest request;
    request.set_model("cls");
    request.set_version(1);
    request.mutable_image()->set_encoded(image_);
    pb::ClassifyResponse classified;
    ASSERT_TRUE(v1_->Classify(&context, request, &classified).ok());
    EXPECT_EQ(classified.model_version(), 1);
    grpc::ClientContext other;
    request.set_version(3);
    EXPECT_EQ(v1_->Classify(&other, request, &classified).error_code(), grpc::StatusCode::NOT_FOUND);
  }

  // A second version by HTTP load (a load of a loaded model rescans its folder).
  CopyModel(kSevenLabels, root_ / "cls" / "2");
  httplib::Client http("127.0.0.1", server_.http_port());
  auto answer = http.Post("/v2/repository/models/cls/load", "", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;
  s = Infer(Request("cls"), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.model_version(), "2");
  EXPECT_EQ(response.outputs(0).shape(1), 7);
  {
    grpc::ClientContext context;
    pb::ListModelsResponse listed;
    ASSERT_TRUE(v1_->ListModels(&context, {}, &listed).ok());
    std::vector<std::string> lines;
    for (const auto& m : listed.models()) lines.push_back(m.name() + "/" + std::to_string(m.version()) + " " + m.state());
    // Version 1 is out of service (UNLOADING until drained, then UNAVAILABLE); version 2 serves.
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_TRUE(lines[0] == "cls/1 UNLOADING" || lines[0] == "cls/1 UNAVAILABLE") << lines[0];
    EXPECT_EQ(lines[1], "cls/2 READY");
  }

  // Unload by HTTP: no version answers, with a message saying so; load again.
  answer = http.Post("/v2/repository/models/cls/unload", "", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;
  s = Infer(Request("cls"), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("model 'cls' has no version ready"), std::string::npos) << s.error_message();
  answer = http.Post("/v2/repository/models/nope/load", "", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400);
  EXPECT_EQ(answer->body, "{\"error\":\"the model repository " + root_.string() + " has no model 'nope'\"}");
  ASSERT_TRUE(Load("cls").ok());
  s = Infer(Request("cls"), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.model_version(), "2");

  const std::string metrics = Metrics();
  EXPECT_NE(metrics.find("beit_model_loads_total{model=\"cls\",result=\"ok\"} 3"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("beit_model_state{model=\"cls\",version=\"2\"} 1"), std::string::npos) << metrics;
}

TEST_F(LiveRepository, PollModeRefusesLoadAndUnloadAsTritonDoesAndModelFlagModelsStay) {
  Start({"--repository-poll-s", "0.2", "--model", "fixed=" + kFiveLabels});
  EXPECT_EQ(Load("cls").error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  httplib::Client http("127.0.0.1", server_.http_port());
  auto answer = http.Post("/v2/repository/models/cls/unload", "", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400);
  EXPECT_NE(answer->body.find("the model control mode is 'poll'"), std::string::npos) << answer->body;
  answer = http.Post("/v2/repository/index", "{\"ready\": true}", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body,
            "[{\"name\":\"cls\",\"reason\":\"\",\"state\":\"READY\",\"version\":\"1\"},"
            "{\"name\":\"fixed\",\"reason\":\"\",\"state\":\"READY\",\"version\":\"1\"}]");
  answer = http.Post("/v2/repository/index", "[]", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400) << answer->body;
}

TEST_F(LiveRepository, LoadAndUnloadTakeTheAdminTokenWhenOneIsSet) {
  const fs::path tokens = root_.string() + "-tokens";
  fs::create_directories(tokens);
  std::ofstream(tokens / "client") << "client-token\n";
  std::ofstream(tokens / "admin") << "admin-token\n";
  Start({"--model-control-mode", "explicit", "--auth-token-file", (tokens / "client").string(), "--admin-token-file",
         (tokens / "admin").string(), "--model", "fixed=" + kFiveLabels});
  httplib::Client http("127.0.0.1", server_.http_port());
  auto with = [](const std::string& token) { return httplib::Headers{{"Authorization", "Bearer " + token}}; };
  auto answer = http.Post("/v2/repository/models/cls/load", with("client-token"), "", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 401) << "a client's token cannot load models";
  answer = http.Post("/v2/repository/index", with("client-token"), "", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << "the index takes the inference token";
  answer = http.Post("/v2/repository/models/cls/load", with("admin-token"), "", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200) << answer->body;
  grpc::ClientContext client, admin;
  client.AddMetadata("authorization", "Bearer client-token");
  admin.AddMetadata("authorization", "Bearer admin-token");
  v2::RepositoryModelUnloadRequest request;
  request.set_model_name("cls");
  v2::RepositoryModelUnloadResponse response;
  EXPECT_EQ(v2_->RepositoryModelUnload(&client, request, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(v2_->RepositoryModelUnload(&admin, request, &response).ok());
  // A model given with --model stays, and the answer says why.
  answer = http.Post("/v2/repository/models/fixed/unload", with("admin-token"), "", "application/json");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 400);
  EXPECT_EQ(answer->body,
            "{\"error\":\"model 'fixed' was given with --model (or the config file) and cannot be unloaded\"}");
  fs::remove_all(tokens);
}

TEST_F(LiveRepository, UnderLoadANewVersionAndARemovalLoseNoRequest) {
  Start({"--repository-poll-s", "0.3"});
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, int> answers;  // "version/labels" -> count
  std::vector<std::string> failures;
  std::atomic<int64_t> last_version{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        v2::ModelInferResponse response;
        const grpc::Status s = Infer(Request("cls"), &response);
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok()) {
          failures.push_back(std::to_string(s.error_code()) + " " + s.error_message());
          continue;
        }
        const int64_t labels = response.outputs(0).shape(1);
        answers[response.model_version() + "/" + std::to_string(labels)]++;
        last_version = std::stoll(response.model_version());
      }
    });
  }
  auto wait_for_version = [&](int64_t version) {
    for (int i = 0; i < 600 && last_version.load() != version; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return last_version.load() == version;
  };
  EXPECT_TRUE(wait_for_version(1));
  // Version 2 copied in as an operator should: to a dot-name (ignored), then renamed into place.
  // (A folder copied straight in, file by file, is the manager test's: it loads only once stable.)
  CopyModel(kSevenLabels, root_ / "cls" / ".incoming-2", std::chrono::milliseconds(100));
  fs::rename(root_ / "cls" / ".incoming-2", root_ / "cls" / "2");
  EXPECT_TRUE(wait_for_version(2)) << server_.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // Version 2 removed: version 1 loads again and takes over, then 2 unloads.
  fs::remove_all(root_ / "cls" / "2");
  EXPECT_TRUE(wait_for_version(1)) << server_.log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  for (std::thread& t : clients) t.join();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << failures.front();
  // Every answer's labels are its version's checkpoint's: 1 has 5, 2 has 7.
  std::string seen;
  for (const auto& [key, count] : answers) seen += key + "=" + std::to_string(count) + " ";
  EXPECT_EQ(answers.size(), 2u) << seen;
  EXPECT_GT(answers["1/5"], 0) << seen;
  EXPECT_GT(answers["2/7"], 0) << seen;
  const std::string log = server_.log();
  EXPECT_EQ(log.find("load failed"), std::string::npos) << "a half-written folder was loaded:\n" << log;
}

}  // namespace
}  // namespace beit::testing

// Faults a real beit-server must survive or refuse cleanly: broken model folders (refuse to start,
// one clear message, never half-serve), oversized and malformed messages, many idle connections,
// and a per-connection stream limit.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "beit/v1/beit_service.grpc.pb.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

namespace fs = std::filesystem;
namespace pb = beit::v1;

// A copy of a fixture model folder that a test may break.
std::string CopyModel(const std::string& fixture, const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("broken_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors", "preprocessor_config.json"}) {
    fs::copy_file(fs::path(ModelDir(fixture)) / f, dir / f);
  }
  return dir.string();
}

void Rewrite(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = ReadFileBytes(path);
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// Starts a server on `good` + `broken`; it must refuse (exit 1) and its log must say `expected`.
void ExpectRefusal(const std::string& broken, const std::string& expected) {
  ServerProcess server;
  std::string error;
  EXPECT_FALSE(server.Start({"--model", "good=" + ModelDir("cls-relpos-meanpool"), "--model", "bad=" + broken}, &error))
      << "a server with a broken model must not start (half-serving)";
  EXPECT_EQ(server.WaitForExit(20), 1);
  EXPECT_NE(server.log().find(expected), std::string::npos) << server.log();
}

TEST(FaultInjection, BrokenModelFoldersRefuseToStartWithOneClearMessage) {
  std::string dir = CopyModel("cls-relpos-meanpool", "missing_weights");
  fs::remove(fs::path(dir) / "model.safetensors");
  ExpectRefusal(dir, "model.safetensors");

  dir = CopyModel("cls-relpos-meanpool", "truncated_weights");
  fs::resize_file(fs::path(dir) / "model.safetensors", fs::file_size(fs::path(dir) / "model.safetensors") / 2);
  ExpectRefusal(dir, "model.safetensors");

  dir = CopyModel("cls-relpos-meanpool", "config_mismatch");
  Rewrite(dir + "/config.json", "\"intermediate_size\": 64", "\"intermediate_size\": 48");
  ExpectRefusal(dir, "shape");

  dir = CopyModel("cls-relpos-meanpool", "missing_config");
  fs::remove(fs::path(dir) / "config.json");
  ExpectRefusal(dir, "config.json");

  dir = CopyModel("cls-relpos-meanpool", "bad_preprocessor");
  std::ofstream(dir + "/preprocessor_config.json", std::ios::trunc) << "{\"size\": ";
  ExpectRefusal(dir, "preprocessor_config.json");

  ExpectRefusal("/no/such/folder", "--model bad=/no/such/folder: /no/such/folder/config.json: cannot open");
}

class RunningServer : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(server_.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--max-message-bytes", "100000",
                               "--max-concurrent-streams", "4"},
                              &error))
        << error;
  }
  grpc::Status ClassifyTiny(const std::shared_ptr<grpc::Channel>& channel) {
    auto stub = pb::BeitService::NewStub(channel);
    pb::ClassifyRequest request;
    request.set_model("cls");
    request.mutable_image()->set_encoded(
        ReadFileBytes(std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/tiny_5x3.png"));
    pb::ClassifyResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub->Classify(&context, request, &response);
  }
  ServerProcess server_;
};

TEST_F(RunningServer, OversizedMessagesAreResourceExhausted) {
  auto stub = pb::BeitService::NewStub(server_.channel());
  pb::ClassifyRequest request;
  request.set_model("cls");
  request.mutable_image()->set_encoded(std::string(200000, 'x'));
  pb::ClassifyResponse response;
  grpc::ClientContext context;
  const grpc::Status s = stub->Classify(&context, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_TRUE(ClassifyTiny(server_.channel()).ok());
}

TEST_F(RunningServer, MalformedProtobufGetsAnErrorAndHarmsNothing) {
  grpc::GenericStub generic(server_.channel());
  for (const std::string& garbage : {std::string("\xff\xff\xff\xff\x0f", 5), std::string("\x12\x80\x80\x80\x80\x10", 6),
                                     std::string(1000, '\x0a')}) {
    grpc::ByteBuffer request(nullptr, 0), response;
    grpc::Slice slice(garbage);
    request = grpc::ByteBuffer(&slice, 1);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    generic.UnaryCall(&context, "/beit.v1.BeitService/Classify", grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        std::lock_guard<std::mutex> lock(mu);
                        status = s;
                        done = true;
                        cv.notify_one();
                      });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    EXPECT_FALSE(status.ok());
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNAVAILABLE) << "the server must not go away";
  }
  EXPECT_TRUE(ClassifyTiny(server_.channel()).ok());
}

TEST_F(RunningServer, ManyIdleConnectionsAndAStreamLimitHarmNothing) {
  // 200 separate connections, each used once and then left idle.
  std::vector<std::shared_ptr<grpc::Channel>> idle;
  for (int i = 0; i < 200; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    args.SetInt("beit.test.connection", i);
    idle.push_back(grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_.port()),
                                             grpc::InsecureChannelCredentials(), args));
    ASSERT_TRUE(ClassifyTiny(idle.back()).ok()) << i;
  }
  // 32 concurrent calls on one connection limited to 4 streams: the rest wait, none fails.
  auto channel = server_.channel();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&] { ok += ClassifyTiny(channel).ok(); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 32);
  EXPECT_TRUE(ClassifyTiny(idle.front()).ok()) << "an idle connection still works";
}

}  // namespace
}  // namespace beit::testing

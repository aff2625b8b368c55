// TLS, mutual TLS and bearer-token authentication on a real beit-server, with certificates this
// test makes with openssl (a throwaway CA, a server certificate for 127.0.0.1, a client one).
#include <httplib.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <vector>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string>

#include "beit/v1/beit_service.grpc.pb.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

namespace pb = beit::v1;

class TlsAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Per process: ctest runs each test of this suite as its own process, possibly in parallel.
    dir_ = new std::string(::testing::TempDir() + "/beit_tls_test_" + std::to_string(getpid()));
    const std::string d = *dir_;
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string script =
        "set -e; rm -rf " + d + "; mkdir -p " + d + "; cd " + d + ";" +
        "openssl req -x509 " + ec + " -keyout ca.key -out ca.pem -days 2 -subj /CN=beit-test-ca 2>/dev/null;" +
        "openssl req " + ec + " -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null;" +
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext;" +
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2"
        " -extfile server.ext 2>/dev/null;" +
        "openssl req " + ec + " -keyout client.key -out client.csr -subj /CN=beit-test-client 2>/dev/null;" +
        "printf 'extendedKeyUsage=clientAuth\\n' > client.ext;" +
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2"
        " -extfile client.ext 2>/dev/null;" +
        "openssl req -x509 " + ec + " -keyout other.key -out other.pem -days 2 -subj /CN=someone-else 2>/dev/null;" +
        "printf 's3cret-token\\n' > token";
    ASSERT_EQ(std::system(("bash -c \"" + script + "\"").c_str()), 0) << "openssl failed";
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string File(const std::string& name) { return *dir_ + "/" + name; }

  static std::shared_ptr<grpc::Channel> Channel(const ServerProcess& server, bool tls, const std::string& cert = "",
                                                const std::string& key = "") {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (tls) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ReadFileBytes(File("ca.pem"));
      if (!cert.empty()) {
        ssl.pem_cert_chain = ReadFileBytes(File(cert));
        ssl.pem_private_key = ReadFileBytes(File(key));
      }
      credentials = grpc::SslCredentials(ssl);
    }
    return grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()), credentials);
  }

  static grpc::Status ListModels(const std::shared_ptr<grpc::Channel>& channel, const std::string& token = "") {
    auto stub = pb::BeitService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    pb::ListModelsResponse response;
    return stub->ListModels(&context, pb::ListModelsRequest(), &response);
  }

  static grpc::Status Classify(const std::shared_ptr<grpc::Channel>& channel, const std::string& token) {
    auto stub = pb::BeitService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) context.AddMetadata("authorization", token);
    pb::ClassifyRequest request;
    request.set_model("cls");
    request.mutable_image()->set_encoded(
        ReadFileBytes(std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/tiny_5x3.png"));
    pb::ClassifyResponse response;
    return stub->Classify(&context, request, &response);
  }

  static std::string* dir_;
};
std::string* TlsAuthTest::dir_ = nullptr;

TEST_F(TlsAuthTest, TlsServesEncryptedCallsAndRefusesPlaintext) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--tls-cert", File("server.pem"),
                            "--tls-key", File("server.key")},
                           &error))
      << error;
  EXPECT_TRUE(ListModels(Channel(server, /*tls=*/true)).ok());
  EXPECT_EQ(ListModels(Channel(server, /*tls=*/false)).error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A client that opens a connection and never finishes the TLS handshake is cut by
// --grpc-handshake-timeout-s (gRPC's own default would hold it 120 s), on the gRPC port and, by
// the header deadline, on the HTTPS port; meanwhile TLS calls go on.
TEST_F(TlsAuthTest, UnfinishedTlsHandshakesAreCut) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--tls-cert", File("server.pem"),
                            "--tls-key", File("server.key"), "--grpc-handshake-timeout-s", "2",
                            "--http-header-timeout-s", "2"},
                           &error))
      << error;
  const auto opened = std::chrono::steady_clock::now();
  std::vector<int> stalled;
  for (int port : {server.port(), server.http_port()}) {
    for (const std::string& first_bytes : {std::string(), std::string("\x16\x03\x01\x02\x00\x01", 6)}) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(port));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
      if (!first_bytes.empty()) ::send(fd, first_bytes.data(), first_bytes.size(), MSG_NOSIGNAL);
      timeval timeout{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      stalled.push_back(fd);
    }
  }
  EXPECT_TRUE(ListModels(Channel(server, /*tls=*/true)).ok());
  for (int fd : stalled) {
    char buffer[256];
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) {
    }
    EXPECT_EQ(n, 0) << "a connection with an unfinished TLS handshake was not closed";
    const double after = std::chrono::duration<double>(std::chrono::steady_clock::now() - opened).count();
    EXPECT_GE(after, 1.5);
    EXPECT_LT(after, 4.0);
    ::close(fd);
  }
}

TEST_F(TlsAuthTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--tls-cert", File("server.pem"),
                            "--tls-key", File("server.key"), "--tls-client-ca", File("ca.pem")},
                           &error))
      << error;
  EXPECT_TRUE(ListModels(Channel(server, true, "client.pem", "client.key")).ok());
  EXPECT_FALSE(ListModels(Channel(server, true)).ok()) << "no client certificate";
  EXPECT_FALSE(ListModels(Channel(server, true, "other.pem", "other.key")).ok()) << "certificate from another CA";
}

TEST_F(TlsAuthTest, BearerTokenGuardsTheServiceButNotHealth) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--auth-token-file", File("token")},
                           &error))
      << error;
  const auto channel = Channel(server, false);
  grpc::Status s = Classify(channel, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(s.error_message().find("authorization: Bearer"), std::string::npos) << s.error_message();
  EXPECT_EQ(Classify(channel, "Bearer wrong-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Classify(channel, "Bearer s3cret-token-and-more").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Classify(channel, "s3cret-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Classify(channel, "Bearer s3cret-token").ok());
  EXPECT_EQ(ListModels(channel).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(ListModels(channel, "s3cret-token").ok());

  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_TRUE(health->Check(&context, grpc::health::v1::HealthCheckRequest(), &response).ok()) << "probes need no token";
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  // The Open Inference Protocol's gRPC service: the same token; its readiness probe needs none.
  auto v2 = inference::GRPCInferenceService::NewStub(channel);
  auto infer = [&](const std::string& token) {
    grpc::ClientContext c;
    if (!token.empty()) c.AddMetadata("authorization", token);
    inference::ModelInferRequest request;
    request.set_model_name("cls");
    auto* input = request.add_inputs();
    input->set_name("image");
    input->set_datatype("BYTES");
    input->add_shape(1);
    input->mutable_contents()->add_bytes_contents(
        ReadFileBytes(std::string(BEIT_TEST_DATA_DIR) + "/preprocess/images/tiny_5x3.png"));
    inference::ModelInferResponse answer;
    return v2->ModelInfer(&c, request, &answer);
  };
  EXPECT_EQ(infer("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(infer("Bearer wrong-token").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(infer("Bearer s3cret-token").ok());
  grpc::ClientContext ready_context, metadata_context;
  inference::ServerReadyResponse ready;
  EXPECT_TRUE(v2->ServerReady(&ready_context, inference::ServerReadyRequest(), &ready).ok());
  EXPECT_TRUE(ready.ready());
  inference::ServerMetadataResponse metadata;
  EXPECT_EQ(v2->ServerMetadata(&metadata_context, inference::ServerMetadataRequest(), &metadata).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

// The Open Inference Protocol's HTTP port takes the same certificate, client CA and token.
TEST_F(TlsAuthTest, HttpPortServesTlsMutualTlsAndTheToken) {
  // A refused TLS handshake can leave OpenSSL writing to a closed socket: an error, not a signal.
  std::signal(SIGPIPE, SIG_IGN);
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--tls-cert", File("server.pem"),
                            "--tls-key", File("server.key"), "--tls-client-ca", File("ca.pem"), "--auth-token-file",
                            File("token")},
                           &error))
      << error;
  ASSERT_GT(server.http_port(), 0);
  auto client = [&](const std::string& cert, const std::string& key) {
    auto c = std::make_unique<httplib::SSLClient>("127.0.0.1", server.http_port(),
                                                   cert.empty() ? std::string() : File(cert),
                                                   key.empty() ? std::string() : File(key));
    c->set_ca_cert_path(File("ca.pem"));
    c->enable_server_certificate_verification(true);
    c->set_connection_timeout(5, 0);
    c->set_read_timeout(10, 0);
    return c;
  };
  const std::string body =
      R"({"inputs":[{"name":"pixel_values","datatype":"FP32","shape":[1,3,32,32],"data":[)" +
      [] {
        std::string zeros;
        for (int i = 0; i < 3 * 32 * 32; ++i) zeros += i ? ",0" : "0";
        return zeros;
      }() +
      "]}]}";
  auto mutual = client("client.pem", "client.key");
  auto ready = mutual->Get("/v2/health/ready");
  ASSERT_TRUE(ready) << httplib::to_string(ready.error());
  EXPECT_EQ(ready->status, 200) << "probes need no token";
  auto no_token = mutual->Post("/v2/models/cls/infer", body, "application/json");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
  EXPECT_NE(no_token->body.find("Authorization: Bearer"), std::string::npos) << no_token->body;
  auto wrong = mutual->Post("/v2/models/cls/infer", {{"Authorization", "Bearer wrong-token"}}, body, "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(mutual->Get("/v2/models/cls")->status, 401);
  auto good = mutual->Post("/v2/models/cls/infer", {{"Authorization", "Bearer s3cret-token"}}, body, "application/json");
  ASSERT_TRUE(good);
  EXPECT_EQ(good->status, 200) << good->body;
  // No client certificate, or one from another CA: no TLS session, no answer.
  EXPECT_FALSE(client("", "")->Get("/v2/health/live"));
  EXPECT_FALSE(client("other.pem", "other.key")->Get("/v2/health/live"));
  // Plain HTTP to the TLS port gets nothing either.
  httplib::Client plain("127.0.0.1", server.http_port());
  plain.set_connection_timeout(5, 0);
  plain.set_read_timeout(5, 0);
  auto cleartext = plain.Get("/v2/health/live");
  EXPECT_TRUE(!cleartext || cleartext->status != 200);
}

TEST_F(TlsAuthTest, InfoCanBeExemptAndBadSetupsRefuseToStart) {
  ServerProcess server;
  std::string error;
  ASSERT_TRUE(server.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--auth-token-file", File("token"),
                            "--auth-exempt", "health,info"},
                           &error))
      << error;
  EXPECT_TRUE(ListModels(Channel(server, false)).ok());
  EXPECT_EQ(Classify(Channel(server, false), "").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  ServerProcess broken;
  EXPECT_FALSE(broken.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--tls-cert", File("server.pem"),
                             "--tls-key", File("missing.key")},
                            &error));
  EXPECT_EQ(broken.WaitForExit(10), 1);
  ServerProcess empty_token;
  std::ofstream(File("empty_token")) << "\n";
  EXPECT_FALSE(empty_token.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool"), "--auth-token-file",
                                  File("empty_token")},
                                 &error));
  EXPECT_EQ(empty_token.WaitForExit(10), 1);
}

}  // namespace
}  // namespace beit::testing

// TLS, mutual TLS and bearer-token authentication on a real beit-server, with certificates this
// test makes with openssl (a throwaway CA, a server certificate for 127.0.0.1, a client one).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "beit/v1/beit_service.grpc.pb.h"
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

// grpc.health.v1 and server reflection (v1alpha, what gRPC 1.51 answers) on a real beit-server,
// through stubs generated from Debian's grpc-proto: what grpcurl and Kubernetes probes use.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <csignal>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/server/server_process.h"

namespace beit::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
namespace reflection = grpc::reflection::v1alpha;

class HealthReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(server_.Start({"--model", "cls=" + ModelDir("cls-relpos-meanpool")}, &error)) << error;
  }
  ServerProcess server_;
};

HealthCheckResponse::ServingStatus Check(Health::Stub& stub, const std::string& service, grpc::Status* status) {
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::ClientContext context;
  *status = stub.Check(&context, request, &response);
  return response.status();
}

TEST_F(HealthReflectionTest, HealthIsServingOnceModelsAreLoaded) {
  auto stub = Health::NewStub(server_.channel());
  grpc::Status status;
  EXPECT_EQ(Check(*stub, "", &status), HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(Check(*stub, "beit.v1.BeitService", &status), HealthCheckResponse::SERVING);
  Check(*stub, "no.such.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(HealthReflectionTest, ReflectionListsTheServiceAndItsDescriptors) {
  auto stub = reflection::ServerReflection::NewStub(server_.channel());
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  reflection::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> services;
  for (const auto& s : response.list_services_response().service()) services.push_back(s.name());
  EXPECT_NE(std::find(services.begin(), services.end(), "beit.v1.BeitService"), services.end());
  EXPECT_NE(std::find(services.begin(), services.end(), "inference.GRPCInferenceService"), services.end());
  EXPECT_NE(std::find(services.begin(), services.end(), "grpc.health.v1.Health"), services.end());

  reflection::ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol("beit.v1.BeitService");
  ASSERT_TRUE(stream->Write(symbol));
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_GT(response.file_descriptor_response().file_descriptor_proto_size(), 0);
  EXPECT_NE(response.file_descriptor_response().file_descriptor_proto(0).find("ClassifyRequest"), std::string::npos);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(HealthReflectionTest, HealthTurnsNotServingOnSigterm) {
  auto stub = Health::NewStub(server_.channel());
  grpc::Status status;
  ASSERT_EQ(Check(*stub, "", &status), HealthCheckResponse::SERVING);
  server_.Signal(SIGTERM);
  EXPECT_EQ(server_.WaitForExit(30), 0);
  // After exit nobody answers: a probe fails, so the pod is taken out of rotation.
  HealthCheckRequest request;
  HealthCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  EXPECT_FALSE(stub->Check(&context, request, &response).ok());
}

}  // namespace
}  // namespace beit::testing

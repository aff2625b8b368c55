#include "tests/server/server_suite.h"

#include <csignal>

namespace beit::testing {

ServerProcess* ServerSuite::server_ = nullptr;

void ServerSuite::StartServer(const std::vector<std::string>& flags) {
  server_ = new ServerProcess();
  std::string error;
  ASSERT_TRUE(server_->Start(flags, &error)) << error;
}

void ServerSuite::TearDownTestSuite() {
  if (server_ == nullptr) return;
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->WaitForExit(30), 0) << "the server did not shut down cleanly:\n" << server_->log();
  delete server_;
  server_ = nullptr;
}

}  // namespace beit::testing

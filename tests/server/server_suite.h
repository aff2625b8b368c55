// A test suite whose tests share one beit-server process (server_process.h), so each suite file
// does not write its own start and stop.
//
// Contract: a fixture derives from ServerSuite and calls StartServer(flags) from its own
// SetUpTestSuite(); a server that does not come up fails the suite's set-up with its error.
// After the suite's last test the server gets SIGTERM and must exit 0 within 30 s (graceful
// shutdown is checked by every suite). server_ is the running server.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/server/server_process.h"

namespace beit::testing {

class ServerSuite : public ::testing::Test {
 protected:
  static void StartServer(const std::vector<std::string>& flags);
  static void TearDownTestSuite();

  static ServerProcess* server_;
};

}  // namespace beit::testing

// Test harness: runs the real beit-server binary on a free port and talks to it over gRPC.
//
// Contract:
// - Start(args) spawns BEIT_SERVER_BINARY with `--port 0 --metrics-port 0 --http-port 0` and
//   `args` (later flags win), waits (up to 60 s) for its "listening on HOST:PORT ... metrics on
//   port M; http on port H" line, and
//   returns false if the process exits first. The server's stderr (its log) goes to a file that
//   log() reads back.
// - channel() is an insecure channel to it; Signal(SIGTERM) and WaitForExit() drive shutdown;
//   the destructor kills and reaps a server still running.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace beit::testing {

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();

  // Returns false (with `error`) when the server did not come up.
  bool Start(const std::vector<std::string>& args, std::string* error);
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // -1 when metrics are off
  int http_port() const { return http_port_; }        // -1 when HTTP is off
  pid_t pid() const { return pid_; }
  std::string log() const;
  std::shared_ptr<grpc::Channel> channel() const;
  void Signal(int signal_number) const;
  // Exit code, or -1 when the process did not exit within `timeout_seconds` (or died of a signal).
  int WaitForExit(int timeout_seconds);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int port_ = 0;
  int metrics_port_ = -1;
  int http_port_ = -1;
  std::string log_path_;
};

// Model folders of the test data, e.g. ModelDir("cls-relpos-meanpool").
std::string ModelDir(const std::string& name);
std::string ReadFileBytes(const std::string& path);

}  // namespace beit::testing

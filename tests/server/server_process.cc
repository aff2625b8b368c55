#include "tests/server/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace beit::testing {

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

bool ServerProcess::Start(const std::vector<std::string>& args, std::string* error) {
  int fds[2];
  if (pipe(fds) != 0) {
    *error = "pipe failed";
    return false;
  }
  // Free ports for gRPC, metrics and HTTP, so tests can run side by side.
  std::vector<std::string> argv_storage = {BEIT_SERVER_BINARY, "--host", "127.0.0.1", "--port", "0",
                                           "--metrics-port", "0", "--http-port", "0"};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  static int started = 0;
  log_path_ = ::testing::TempDir() + "/beit_server_" + std::to_string(getpid()) + "_" + std::to_string(started++) + ".log";
  pid_ = fork();
  if (pid_ == 0) {
    const int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log_fd >= 0) dup2(log_fd, STDERR_FILENO);
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  stdout_fd_ = fds[0];
  std::string output;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd p{stdout_fd_, POLLIN, 0};
    if (poll(&p, 1, 200) > 0) {
      char buffer[512];
      const ssize_t n = read(stdout_fd_, buffer, sizeof(buffer));
      if (n <= 0) break;  // the server closed stdout: it exited
      output.append(buffer, static_cast<size_t>(n));
      const size_t at = output.find("listening on ");
      const size_t eol = at == std::string::npos ? std::string::npos : output.find('\n', at);
      if (eol != std::string::npos) {
        const size_t colon = output.rfind(':', output.find(' ', at + 13));
        port_ = std::stoi(output.substr(colon + 1));
        const size_t metrics = output.find("metrics on port ", at);
        if (metrics != std::string::npos && metrics < eol) metrics_port_ = std::stoi(output.substr(metrics + 16));
        const size_t http = output.find("http on port ", at);
        if (http != std::string::npos && http < eol) http_port_ = std::stoi(output.substr(http + 13));
        return true;
      }
    }
  }
  *error = "beit-server did not start; stdout so far: " + output + "\nlog: " + log();
  return false;
}

std::shared_ptr<grpc::Channel> ServerProcess::channel() const {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials(), arguments);
}

void ServerProcess::Signal(int signal_number) const {
  if (pid_ > 0) kill(pid_, signal_number);
}

int ServerProcess::WaitForExit(int timeout_seconds) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string ServerProcess::log() const { return ReadFileBytes(log_path_); }

std::string ModelDir(const std::string& name) { return std::string(BEIT_TEST_DATA_DIR) + "/models/" + name; }

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace beit::testing

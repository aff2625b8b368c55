// beit-server: hosts BEiT checkpoints behind beit.v1.BeitService, grpc.health.v1 and server
// reflection. Health is NOT_SERVING until every model is loaded and warmed up. SIGTERM/SIGINT:
// health NOT_SERVING, new calls refused, accepted calls finish within --grace-period-s, exit 0.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "model/model_error.h"
#include "server/beit_service.h"
#include "server/model_repository.h"
#include "server/server_options.h"
#include "server/worker_pool.h"

namespace {

using beit::serving::ServerOptions;

constexpr const char* kServiceName = "beit.v1.BeitService";

int Serve(const ServerOptions& options, const sigset_t& stop_signals) {
  beit::serving::ModelRepository models;
  std::vector<std::string> warnings;
  try {
    models.Load(options.models, options.batching, options.decode_limits, &warnings);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beit-server: %s\n", e.what());
    return 1;
  }
  for (const std::string& w : warnings) std::fprintf(stderr, "beit-server: warning: %s\n", w.c_str());

  beit::serving::WorkerPool workers(options.preprocess_threads, static_cast<size_t>(options.max_pending_preprocess));
  beit::serving::BeitServiceImpl service(&models, &workers);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int port = 0;
  const std::string address = options.host + ":" + std::to_string(options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "beit-server: cannot listen on %s (port in use or address invalid)\n", address.c_str());
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(false);
  health->SetServingStatus(kServiceName, false);

  try {
    models.WarmupAll();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beit-server: warm-up failed: %s\n", e.what());
    server->Shutdown();
    return 1;
  }
  health->SetServingStatus(true);
  health->SetServingStatus(kServiceName, true);
  std::string names;
  for (const auto* m : models.models()) {
    names += (names.empty() ? "" : ", ") + m->description().name + " (" + m->description().architecture + ")";
  }
  std::printf("beit-server listening on %s:%d serving %s\n", options.host.c_str(), port, names.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "beit-server: %s received; draining for up to %d s\n", strsignal(signal_number),
               options.grace_period_seconds);
  health->SetServingStatus(kServiceName, false);
  health->SetServingStatus(false);
  service.StopAccepting();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(options.grace_period_seconds));
  models.ShutdownAll();
  workers.Shutdown();
  std::fprintf(stderr, "beit-server: stopped\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  const absl::StatusOr<ServerOptions> options =
      beit::serving::ParseServerOptions(std::vector<std::string>(argv + 1, argv + argc));
  if (!options.ok()) {
    std::fprintf(stderr, "beit-server: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  if (options->help) {
    std::fputs(beit::serving::ServerUsage().c_str(), stdout);
    return 0;
  }
  return Serve(*options, stop_signals);
}

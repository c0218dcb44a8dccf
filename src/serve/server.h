// serve::Server: edgeopt's Open Inference Protocol (KServe v2) server: a model repository in Triton's
// layout (model_repository.h) behind HTTP/REST (cpp-httplib; JSON and the binary tensor data
// extension) and gRPC (GRPCInferenceService, proto/grpc_service.proto).
//
//   ServerOptions o;  o.model_repo = "models/";  o.http_port = 0;  o.grpc_port = 0;   // 0: free ports
//   Server s(o);
//   s.start();                                   // loads models, listens; throws edgeopt::Error
//   httplib::Client c("127.0.0.1", s.http_port());  ...
//   s.stop();                                    // graceful: in-flight requests finish
//
// Endpoints (HTTP): GET /v2/health/live, /v2/health/ready, /v2, /v2/models/{m}[/versions/{v}],
// .../ready, /v2/models/{m}/config; POST .../infer, /v2/repository/index,
// /v2/repository/models/{m}/load and /unload. Errors are {"error": "..."} with the status of
// status.h (400, 404, 413, 429, 503, 504). gRPC: ServerLive/Ready, ModelReady, ServerMetadata,
// ModelMetadata, ModelInfer (typed contents or raw_input_contents; answers raw_output_contents),
// ModelConfig, RepositoryIndex/ModelLoad/ModelUnload.
// A background thread polls the repository every poll_s seconds (hot reload, model_repository.h).
// infer() is the transport-independent entry point both front ends call (and an in-process caller
// can use, e.g. a cloud-role test). Thread-safety: all members except start/stop may be called
// concurrently; stop() may be called from any thread (e.g. after a signal), once start() returned.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "serve/auth.h"
#include "hw/energy.h"
#include "monitor/feedback.h"
#include "serve/model_repository.h"
#include "serve/tls.h"

namespace edgeopt::serve {

inline constexpr const char* kServerName = "edgeopt";
inline constexpr const char* kServerVersion = "0.1.0";

struct ServerOptions {
  std::string model_repo;
  std::string host = "0.0.0.0";
  int http_port = 8000;                     // 0: pick a free port (see http_port()); -1: no HTTP
  int grpc_port = 8001;                     // 0: pick a free port; -1: no gRPC
  int threads = 1;                          // worker threads (Sessions) per model version
  size_t max_queue = 64;                    // queued requests per model version before 429
  size_t max_request_bytes = 64u << 20;     // larger requests get 413 (HTTP) / RESOURCE_EXHAUSTED (gRPC)
  double poll_s = 1.0;                      // repository poll period; 0: load once (use the load endpoint)
  // Connections served at once: cpp-httplib keeps a keep-alive connection on one thread, so more
  // connections than this wait for a free thread (see docs/serving.md).
  int http_threads = 128;
  int64_t default_timeout_us = 0;           // deadline for requests that set none; 0: none
  // Bearer tokens with roles (auth.h); "" = no authentication. Health endpoints stay open.
  std::string auth_tokens_file;
  // TLS for HTTP and gRPC (PEM files, tls.h); "" = plain TCP. With tls_client_ca, clients must
  // present a certificate signed by it (mTLS).
  std::string tls_cert, tls_key, tls_client_ca;
  // Per request, every input: at most this many elements (413 naming the tensor; 0: no limit) and
  // at most this many rows in dim 0 (400 naming the tensor; 0: only the model's max_batch_size).
  int64_t max_tensor_elements = int64_t{1} << 24;
  int64_t max_batch = 0;
  uint64_t max_model_bytes = uint64_t{4} << 30;  // larger model files are refused before reading
  bool require_manifest = false;                 // every model folder needs SHA256SUMS (model_repository.h)
  monitor::FeedbackOptions feedback;        // ground-truth feedback: ids remembered, rolling window
  // Energy per inference when no counter (RAPL/NVML) is readable: worker CPU seconds x this
  // (labelled energy_source="estimate"; see docs/monitoring.md).
  double watts_per_core = 10.0;
  hw::EnergyMeterOptions energy;            // where the RAPL/NVML counters are read (tests: a fake sysfs)
  // Models that run through an edge-cloud split: model name -> cloud URL, plan, TLS (split_backend.h).
  std::map<std::string, SplitSpec> split;
  std::function<void(const std::string&)> log;  // load/unload/error lines; may be empty
};

class HttpFrontend;
class GrpcFrontend;

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();
  // Graceful: ready turns false, new requests get 503, listeners close after in-flight requests
  // are answered, then every model finishes its queue. Idempotent.
  void stop();

  int http_port() const { return http_port_; }
  int grpc_port() const { return grpc_port_; }
  bool live() const { return started_ && !stopping_; }
  bool ready() const;
  bool stopping() const { return stopping_; }
  ModelRepository& repository() { return *repo_; }
  const ServerOptions& options() const { return options_; }

  // Runs one request on model/version ("" = latest) within `timeout_us` (0: default_timeout_us).
  // Throws ServeError. Returns the version that answered through *version_out when not null.
  InferResult infer(const std::string& model, const std::string& version, InferRequest request,
                    int64_t* version_out = nullptr);
  std::vector<std::string> extensions() const;
  // Whether `authorization` (the HTTP header / gRPC metadata value) may call an endpoint needing
  // `needed`; always allowed without --auth-tokens.
  AuthDecision authorize(std::string_view authorization, Role needed) const;
  bool auth_enabled() const { return tokens_ != nullptr; }
  const TlsFiles& tls() const { return tls_; }
  bool tls_enabled() const { return !tls_.cert_pem.empty(); }

  // Ground truth: every answered request is recorded under its id (feedback.h).
  monitor::FeedbackStore& feedback() { return feedback_; }
  const monitor::FeedbackStore& feedback() const { return feedback_; }

  // Energy per inference of a version: with a readable counter, the joules per process CPU second
  // measured between calls (at most once a second) times the version's worker CPU seconds per
  // inference ("measured"); otherwise watts_per_core x CPU seconds per inference ("estimate").
  struct EnergyPerInference {
    double joules = 0;
    std::string source;   // "measured" | "estimate"
    bool known = false;   // false before the version answered anything
  };
  EnergyPerInference energy_per_inference(const ModelVersion& v);

  // A layer above serve (the controller) adds its state here: `metrics` returns Prometheus text
  // appended to /metrics, `status` a JSON object put under "controller" in GET /v2/monitor. Either
  // may be empty.
  struct MonitorExtension {
    std::function<std::string()> metrics;
    std::function<std::string()> status;
  };
  // The functions are called from HTTP threads: whoever sets them must outlive the serving (e.g.
  // destroy the controller after stop()). Setting and reading are thread-safe.
  void set_monitor_extension(MonitorExtension e) {
    std::lock_guard<std::mutex> lock(extension_mu_);
    extension_ = std::move(e);
  }
  MonitorExtension monitor_extension() const {
    std::lock_guard<std::mutex> lock(extension_mu_);
    return extension_;
  }

 private:
  void log(const std::string& line) const;
  std::string next_request_id();
  ServerOptions options_;
  monitor::FeedbackStore feedback_;
  mutable std::mutex extension_mu_;
  MonitorExtension extension_;
  std::atomic<uint64_t> request_seq_{0};
  std::string id_prefix_;
  std::mutex energy_mu_;
  std::unique_ptr<hw::EnergyMeter> meter_;
  hw::EnergySnapshot energy_last_;
  double energy_last_cpu_s_ = 0;
  double joules_per_cpu_s_ = 0;   // latest measured ratio (0: none yet)
  std::unique_ptr<ModelRepository> repo_;
  std::unique_ptr<TokenStore> tokens_;
  TlsFiles tls_;
  std::unique_ptr<HttpFrontend> http_;
  std::unique_ptr<GrpcFrontend> grpc_;
  int http_port_ = -1;
  int grpc_port_ = -1;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  std::thread poll_thread_;
};

}  // namespace edgeopt::serve

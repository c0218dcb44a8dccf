#include "serve/server.h"

#include <sys/resource.h>

#include <cstdio>

#include "serve/frontends.h"

namespace edgeopt::serve {

namespace {

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

}  // namespace

Server::Server(ServerOptions options) : options_(std::move(options)), feedback_(options_.feedback) {
  if (options_.threads < 1) throw_error(ErrorCode::kInvalidArgument, "--threads must be >= 1, got " + std::to_string(options_.threads));
  if (options_.max_queue < 1) throw_error(ErrorCode::kInvalidArgument, "--max-queue must be >= 1");
  if (options_.poll_s < 0) throw_error(ErrorCode::kInvalidArgument, "--poll-s must be >= 0");
  RepositoryOptions ro;
  ro.exec.threads = options_.threads;
  ro.exec.max_queue = options_.max_queue;
  ro.log = options_.log;
  ro.max_model_bytes = options_.max_model_bytes;
  ro.require_manifest = options_.require_manifest;
  ro.split = options_.split;
  if (options_.max_tensor_elements < 0 || options_.max_batch < 0)
    throw_error(ErrorCode::kInvalidArgument, "--max-elements and --max-batch must be >= 0");
  repo_ = std::make_unique<ModelRepository>(options_.model_repo, ro);
  if (!options_.auth_tokens_file.empty())
    tokens_ = std::make_unique<TokenStore>(TokenStore::load_file(options_.auth_tokens_file));
  tls_ = load_tls_files(options_.tls_cert, options_.tls_key, options_.tls_client_ca);
  // Generated ids: unique per server start (the start time) and per request (a counter).
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "eo-%llx-",
                static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count() & 0xffffffffffULL));
  id_prefix_ = prefix;
  meter_ = std::make_unique<hw::EnergyMeter>(options_.energy);
  if (meter_->available()) {
    energy_last_ = meter_->sample();
    energy_last_cpu_s_ = process_cpu_seconds();
  }
}

std::string Server::next_request_id() { return id_prefix_ + std::to_string(++request_seq_); }

Server::EnergyPerInference Server::energy_per_inference(const ModelVersion& v) {
  const VersionStats st = v.stats();
  EnergyPerInference e;
  if (st.rows == 0) {
    e.source = meter_->available() ? "measured" : "estimate";
    return e;
  }
  const double cpu_per_row = st.run_cpu_seconds / static_cast<double>(st.rows);
  if (meter_->available()) {
    std::lock_guard<std::mutex> lock(energy_mu_);
    try {
      const hw::EnergySnapshot now = meter_->sample();
      const double dt = std::chrono::duration<double>(now.time - energy_last_.time).count();
      const double cpu = process_cpu_seconds();
      // Only over an interval long enough for the counters' resolution and with CPU work in it.
      if (dt >= 1.0 && cpu - energy_last_cpu_s_ > 0.05) {
        joules_per_cpu_s_ = meter_->joules_between(energy_last_, now) / (cpu - energy_last_cpu_s_);
        energy_last_ = now;
        energy_last_cpu_s_ = cpu;
      }
    } catch (const std::exception& ex) {
      log(std::string("energy meter: ") + ex.what());
    }
    if (joules_per_cpu_s_ > 0) {
      e.joules = joules_per_cpu_s_ * cpu_per_row;
      e.source = "measured";
      e.known = true;
      return e;
    }
  }
  e.joules = options_.watts_per_core * cpu_per_row;
  e.source = "estimate";
  e.known = true;
  return e;
}

Server::~Server() { stop(); }

void Server::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

void Server::start() {
  repo_->poll();
  if (repo_->index().empty()) log("warning: the repository '" + options_.model_repo + "' has no model folders yet");
  for (const auto& [model, spec] : options_.split) {
    bool found = false;
    for (const auto& e : repo_->index()) found = found || e.name == model;
    if (!found) log("warning: --split names model '" + model + "', which the repository '" + options_.model_repo + "' does not have (yet)");
  }
  if (options_.http_port >= 0) {
    http_ = std::make_unique<HttpFrontend>(*this);
    http_port_ = http_->start(options_.host, options_.http_port);
    log(std::string(tls_enabled() ? "HTTPS" : "HTTP") + "/REST (KServe v2) on " + options_.host + ":" + std::to_string(http_port_));
  }
  if (options_.grpc_port >= 0) {
    grpc_ = std::make_unique<GrpcFrontend>(*this);
    grpc_port_ = grpc_->start(options_.host, options_.grpc_port);
    log(std::string("gRPC") + (tls_enabled() ? " over TLS" : "") + " (inference.GRPCInferenceService) on " + options_.host +
        ":" + std::to_string(grpc_port_));
  }
  if (tls_enabled())
    log("TLS: certificate " + tls_.cert_path + (tls_.client_ca_path.empty() ? "" : ", client certificates required (CA " + tls_.client_ca_path + ")"));
  if (tokens_) log("authentication on: " + std::to_string(tokens_->size()) + " token(s) from " + options_.auth_tokens_file);
  started_ = true;
  if (options_.poll_s > 0) {
    poll_thread_ = std::thread([this] {
      const auto period = std::chrono::duration<double>(options_.poll_s);
      std::unique_lock<std::mutex> lock(poll_mu_);
      while (!poll_cv_.wait_for(lock, period, [this] { return stopping_.load(); })) {
        lock.unlock();
        try {
          repo_->poll();
        } catch (const std::exception& e) {
          log(std::string("error: repository poll: ") + e.what());
        }
        lock.lock();
      }
    });
  }
}

void Server::stop() {
  if (stopping_.exchange(true)) return;
  if (started_) log("shutting down: finishing in-flight requests");
  {
    std::lock_guard<std::mutex> lock(poll_mu_);
  }
  poll_cv_.notify_all();
  if (poll_thread_.joinable()) poll_thread_.join();
  if (http_) http_->stop();
  if (grpc_) grpc_->stop();
  repo_->shutdown();
  if (started_) log("stopped");
}

bool Server::ready() const { return started_ && !stopping_ && repo_->all_ready(); }

InferResult Server::infer(const std::string& model, const std::string& version, InferRequest request, int64_t* version_out) {
  if (stopping_) throw ServeError(Status::kUnavailable, "the server is shutting down; retry on another server");
  int64_t timeout = request.deadline == Clock::time_point::max() ? options_.default_timeout_us : 0;
  if (timeout > 0) request.deadline = Clock::now() + std::chrono::microseconds(timeout);
  for (const auto& [name, t] : request.inputs) {
    if (options_.max_tensor_elements > 0 && t.numel() > options_.max_tensor_elements)
      throw ServeError(Status::kPayloadTooLarge, "input '" + name + "' has " + std::to_string(t.numel()) + " elements (shape " +
                                                     t.shape().str() + "); this server takes at most " +
                                                     std::to_string(options_.max_tensor_elements) + " per tensor (--max-elements)");
    if (options_.max_batch > 0 && t.shape().rank() > 0 && t.shape()[0] > options_.max_batch)
      throw ServeError(Status::kBadRequest, "input '" + name + "' has " + std::to_string(t.shape()[0]) +
                                                " rows in its first dim (shape " + t.shape().str() + "); this server takes at most " +
                                                std::to_string(options_.max_batch) + " per request (--max-batch)");
  }
  auto mv = repo_->get(model, version);
  if (version_out) *version_out = mv->version();
  if (request.id.empty()) request.id = next_request_id();
  std::string id = request.id;
  // The first input is kept for feedback (labelled samples); a copy of the handle, not the data.
  const std::string& in_name = mv->config().inputs.empty() ? std::string() : mv->config().inputs[0].name;
  Tensor input;
  if (auto it = request.inputs.find(in_name); it != request.inputs.end()) input = it->second;
  InferResult out = mv->infer(std::move(request));
  out.id = id;
  const std::string& out_name = mv->config().outputs.empty() ? std::string() : mv->config().outputs[0].name;
  for (const auto& [name, t] : out.outputs)
    if (name == out_name) {
      // Monitoring never fails an answered request.
      try {
        feedback_.record(id, model, mv->version(), input.defined() ? &input : nullptr, t);
      } catch (const std::exception& e) {
        log(std::string("feedback: ") + e.what());
      }
    }
  return out;
}

AuthDecision Server::authorize(std::string_view authorization, Role needed) const {
  if (!tokens_) return {};
  return tokens_->authorize(authorization, needed);
}

std::vector<std::string> Server::extensions() const {
  return {"binary_tensor_data", "model_repository", "model_configuration", "parameters"};
}

}  // namespace edgeopt::serve

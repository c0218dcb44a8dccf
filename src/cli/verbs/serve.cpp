// edgeopt serve --model-repo DIR: the Open Inference Protocol (KServe v2) server over HTTP and gRPC
// (src/serve/server.h). Runs until SIGINT/SIGTERM, then shuts down gracefully.
#include <pthread.h>
#include <signal.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>

#include "cli/verbs/verbs.h"
#include "control/controller.h"
#include "serve/server.h"
#include "split/oip_client.h"

namespace edgeopt::cli {

namespace {

struct Options {
  serve::ServerOptions server;
  double max_request_mb = 64;
  double timeout_ms = 0;
  double max_model_mb = 4096;
  std::string controller;  // policy file
  std::vector<std::string> split;  // MODEL=URL,PLAN
  std::string cloud_ca, cloud_cert, cloud_key, cloud_token_file;
  double split_deadline_ms = 1000;
};

void log_line(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::time_t t = std::time(nullptr);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  std::fprintf(stderr, "%s edgeopt serve: %s\n", ts, line.c_str());
  std::fflush(stderr);
}

void run_serve(Options o) {
  if (o.max_request_mb <= 0) throw_error(ErrorCode::kInvalidArgument, "--max-request-mb must be > 0");
  o.server.max_request_bytes = static_cast<size_t>(o.max_request_mb * 1024 * 1024);
  if (o.max_model_mb <= 0) throw_error(ErrorCode::kInvalidArgument, "--max-model-mb must be > 0");
  o.server.max_model_bytes = static_cast<uint64_t>(o.max_model_mb * 1024 * 1024);
  o.server.default_timeout_us = static_cast<int64_t>(o.timeout_ms * 1000);
  o.server.log = log_line;
  for (const auto& text : o.split) {
    auto [model, spec] = serve::parse_split_flag(text);
    spec.client.ca_file = o.cloud_ca;
    spec.client.cert_file = o.cloud_cert;
    spec.client.key_file = o.cloud_key;
    if (!o.cloud_token_file.empty()) spec.client.bearer_token = split::read_bearer_token_file(o.cloud_token_file);
    spec.deadline_ms = o.split_deadline_ms;
    EDGEOPT_CHECK_ARG(!o.server.split.count(model), "--split names model '" + model + "' twice");
    o.server.split[model] = spec;
  }
#if defined(__GLIBC__)
  // A fixed mmap threshold (glibc's default, 128 KiB): glibc otherwise raises it to the largest block
  // freed so far (a model file's bytes while loading, up to 32 MiB), after which such blocks come from
  // its heaps and stay resident after a model swap frees them. Tensors of 64 KiB and more are reused
  // by the tensor block cache anyway. bench/soak.py: serve's RSS grew ~1 MB per swap without this.
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  // Two malloc arenas instead of glibc's up to 8 per core: every HTTP pool thread otherwise gets
  // one of ~16 arenas, each keeps its own free but resident slack, and the server's RSS rose for
  // minutes as each filled (bench/soak.py: 15 arenas, 13.7 MB resident after 7 minutes, growing).
  // Threads take small blocks from their tcache without the arena lock. MALLOC_ARENA_MAX overrides.
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
#endif
  // Block the signals before any server thread exists (threads inherit the mask); this thread then
  // waits for them with sigwait, so shutdown runs in ordinary code, not in a signal handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  serve::Server server(o.server);
  std::unique_ptr<control::Controller> ctl;
  if (!o.controller.empty()) ctl = std::make_unique<control::Controller>(server, control::load_policy(o.controller), log_line);
  server.start();
  if (ctl) ctl->start();
  if (ctl) log_line("controller on for model '" + ctl->policy().model + "' (policy " + o.controller + ")");
  log_line("ready (Ctrl-C or SIGTERM to stop); dashboard at GET /dashboard");
  int sig = 0;
  sigwait(&set, &sig);
  log_line(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  if (ctl) ctl->stop();
  server.stop();
}

}  // namespace

void add_serve_verb(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "serve", "Serve ONNX models over the Open Inference Protocol (KServe v2: HTTP/REST + gRPC), Triton-compatible");
  sub->add_option("--model-repo", opts->server.model_repo,
                  "Model repository in Triton's layout: DIR/<model>/<version>/model.onnx, optional DIR/<model>/config.pbtxt")
      ->required();
  sub->add_option("--http", opts->server.http_port, "HTTP port (0: any free port, -1: off)")->capture_default_str();
  sub->add_option("--grpc", opts->server.grpc_port, "gRPC port (0: any free port, -1: off)")->capture_default_str();
  sub->add_option("--host", opts->server.host, "Address to listen on")->capture_default_str();
  sub->add_option("--threads", opts->server.threads,
                  "Worker threads per model version, each with its own Session (config.pbtxt instance_group count wins)")
      ->capture_default_str();
  sub->add_option("--max-queue", opts->server.max_queue,
                  "Requests queued per model before new ones get 429 (back-pressure)")
      ->capture_default_str();
  sub->add_option("--max-request-mb", opts->max_request_mb, "Largest request body; larger ones get 413")->capture_default_str();
  sub->add_option("--poll-s", opts->server.poll_s,
                  "Seconds between repository scans (new versions hot-swap in); 0: scan once")
      ->capture_default_str();
  sub->add_option("--timeout-ms", opts->timeout_ms,
                  "Deadline for requests that carry none (0: none); past it they get 504")
      ->capture_default_str();
  sub->add_option("--http-threads", opts->server.http_threads, "HTTP connections served at once")->capture_default_str();
  sub->add_option("--auth-tokens", opts->server.auth_tokens_file,
                  "Require bearer tokens: FILE has lines 'infer TOKEN' / 'admin TOKEN' (mode 600); "
                  "health endpoints stay open, repository load/unload/index need admin (docs/security.md)");
  sub->add_option("--max-elements", opts->server.max_tensor_elements,
                  "Most elements in one input tensor of a request; more get 413 (0: no limit)")
      ->capture_default_str();
  sub->add_option("--max-batch", opts->server.max_batch,
                  "Most rows (first dim) in one request's inputs; more get 400 (0: the model's max_batch_size only)")
      ->capture_default_str();
  sub->add_option("--max-model-mb", opts->max_model_mb, "Larger model files are refused before they are read")
      ->capture_default_str();
  sub->add_flag("--require-manifest", opts->server.require_manifest,
                "Refuse models whose folder has no SHA256SUMS (sha256sum format: '<hex>  1/model.onnx')");
  sub->add_option("--tls-cert", opts->server.tls_cert, "PEM certificate (chain) for HTTPS and gRPC over TLS; needs --tls-key");
  sub->add_option("--tls-key", opts->server.tls_key, "PEM private key of --tls-cert (unencrypted)");
  sub->add_option("--tls-client-ca", opts->server.tls_client_ca,
                  "Require client certificates signed by this PEM CA (mutual TLS)");
  sub->add_option("--controller", opts->controller,
                  "Policy file (YAML/JSON): keep one model within latency/accuracy/drift/energy budgets by switching "
                  "variants, re-calibrating int8 and fine-tuning on fed-back labels (docs/monitoring.md)")
      ->check(CLI::ExistingFile);
  sub->add_option("--split", opts->split,
                  "MODEL=CLOUD_URL,PLAN: serve MODEL through an edge-cloud split: the edge half here, the cut tensors to "
                  "the OIP server at CLOUD_URL (the cloud halves from `edgeopt partition --repo`), the local model when the "
                  "cloud is slow or down; PLAN = plan.json from `partition --out` (docs/edge-cloud.md). Repeatable");
  sub->add_option("--cloud-ca", opts->cloud_ca, "--split: PEM CA the https:// cloud's certificate must chain to (else the system store)");
  sub->add_option("--cloud-cert", opts->cloud_cert, "--split: PEM client certificate for a cloud that requires mTLS (with --cloud-key)");
  sub->add_option("--cloud-key", opts->cloud_key, "--split: PEM private key of --cloud-cert");
  sub->add_option("--cloud-token-file", opts->cloud_token_file, "--split: file whose first line is the cloud's bearer token");
  sub->add_option("--split-deadline-ms", opts->split_deadline_ms,
                  "--split: per-request deadline of the offload; past it the edge answers alone")
      ->capture_default_str();
  sub->add_option("--feedback-window", opts->server.feedback.window,
                  "Ground-truth labels per model version in the rolling accuracy/F1 (or MAE/RMSE) window")
      ->capture_default_str();
  sub->add_option("--feedback-capacity", opts->server.feedback.capacity,
                  "Request ids remembered for delayed labels (POST /v2/models/{m}/feedback)")
      ->capture_default_str();
  sub->add_option("--watts-per-core", opts->server.watts_per_core,
                  "Energy estimate when RAPL/NVML is unreadable: worker CPU seconds x this (energy_source=\"estimate\")")
      ->capture_default_str();
  sub->footer(
      "Example:\n"
      "  mkdir -p models/vision_cnn/1\n"
      "  edgeopt train --model vision_cnn --data fashion-mnist --epochs 1 --out models/vision_cnn/1/model.onnx\n"
      "  edgeopt serve --model-repo models --http 8000 --grpc 8001 --threads 2\n"
      "  curl localhost:8000/v2/models/vision_cnn              # metadata: inputs, outputs, versions\n"
      "  curl -d '{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[1,1,28,28],\"data\":[0,...]}]}' \\\n"
      "       localhost:8000/v2/models/vision_cnn/infer\n"
      "Works with Triton's clients (pip install tritonclient[all]) and any KServe v2 client. Without\n"
      "config.pbtxt, a model whose first dims are dynamic batches up to 8 requests. Copy a new version\n"
      "folder (e.g. models/vision_cnn/2/) into place and it replaces version 1 without failing a request.\n"
      "With tokens: printf 'infer %s\\nadmin %s\\n' $(openssl rand -hex 32) $(openssl rand -hex 32) > tokens;\n"
      "  chmod 600 tokens; edgeopt serve --model-repo models --auth-tokens tokens\n"
      "  curl -H \"Authorization: Bearer $INFER_TOKEN\" localhost:8000/v2/models/vision_cnn\n"
      "Monitoring: GET /metrics (Prometheus), GET /v2/monitor (JSON), GET /dashboard (live page);\n"
      "answers carry an \"id\": POST /v2/models/vision_cnn/feedback {\"labels\":[{\"id\":\"...\",\"label\":3}]}\n"
      "  edgeopt serve --model-repo models --controller policy.yaml   # self-healing, see docs/monitoring.md\n"
      "Edge-cloud split (cloud: any OIP server with the halves; see docs/edge-cloud.md):\n"
      "  edgeopt partition models/cnn/1/model.onnx --name cnn --cloud speedup:8 --bandwidth 100 --out split/ --repo cloud/\n"
      "  edgeopt serve --model-repo cloud --http 9000            # on the cloud box\n"
      "  edgeopt serve --model-repo models --split cnn=http://cloud:9000,split/plan.json --controller policy.yaml\n"
      "See docs/serving.md, docs/security.md and docs/monitoring.md.");
  sub->callback([opts] { run_serve(*opts); });
}

}  // namespace edgeopt::cli

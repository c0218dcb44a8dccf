#include <grpcpp/grpcpp.h>

#include <cstring>

#include "grpc_service.grpc.pb.h"
#include "model_config.pb.h"
#include "serve/frontends.h"
#include "serve/grpc_codec.h"
#include "serve/server.h"

namespace edgeopt::serve {

namespace {

grpc::Status to_grpc(const ServeError& e) { return grpc::Status(static_cast<grpc::StatusCode>(grpc_code(e.status())), e.message()); }

template <typename F>
grpc::Status guarded(F&& f) {
  try {
    f();
    return grpc::Status::OK;
  } catch (const ServeError& e) {
    return to_grpc(e);
  } catch (const Error& e) {
    return to_grpc(ServeError::from(e));
  } catch (const std::exception& e) {
    return grpc::Status(grpc::StatusCode::INTERNAL, e.what());
  }
}

}  // namespace

class InferenceService final : public inference::GRPCInferenceService::Service {
 public:
  explicit InferenceService(Server& s) : server_(s) {}

  // The role rules of the HTTP front end: ServerLive/ServerReady open, the repository methods
  // admin, the rest infer. The token comes in the "authorization" metadata ("Bearer <token>"),
  // which is what tritonclient.grpc sends for headers={"authorization": ...}.
  grpc::Status check(const grpc::ServerContext* ctx, Role needed) const {
    if (!server_.auth_enabled()) return grpc::Status::OK;
    std::string_view value;
    const auto& md = ctx->client_metadata();
    auto it = md.find("authorization");
    if (it != md.end()) value = std::string_view(it->second.data(), it->second.size());
    const AuthDecision d = server_.authorize(value, needed);
    switch (d.outcome) {
      case AuthOutcome::kAllowed: return grpc::Status::OK;
      case AuthOutcome::kUnauthenticated: return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, d.message);
      case AuthOutcome::kForbidden: break;
    }
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, d.message);
  }

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*, inference::ServerLiveResponse* r) override {
    r->set_live(server_.live());
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*, inference::ServerReadyResponse* r) override {
    r->set_ready(server_.ready());
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext* ctx, const inference::ModelReadyRequest* q, inference::ModelReadyResponse* r) override {
    if (grpc::Status st = check(ctx, Role::kInfer); !st.ok()) return st;
    try {
      server_.repository().get(q->name(), q->version());
      r->set_ready(!server_.stopping());
    } catch (const ServeError&) {
      r->set_ready(false);
    }
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext* ctx, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* r) override {
    if (grpc::Status st = check(ctx, Role::kInfer); !st.ok()) return st;
    r->set_name(kServerName);
    r->set_version(kServerVersion);
    for (const auto& e : server_.extensions()) r->add_extensions(e);
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext* ctx, const inference::ModelMetadataRequest* q,
                             inference::ModelMetadataResponse* r) override {
    if (grpc::Status st = check(ctx, Role::kInfer); !st.ok()) return st;
    return guarded([&] {
      auto mv = server_.repository().get(q->name(), q->version());
      const auto& c = mv->config();
      r->set_name(mv->name());
      for (int64_t v : server_.repository().versions(mv->name())) r->add_versions(std::to_string(v));
      r->set_platform(c.platform);
      auto fill = [&](const TensorConfig& t, inference::ModelMetadataResponse::TensorMetadata* m) {
        m->set_name(t.name);
        m->set_datatype(oip_datatype(t.dtype));
        if (c.max_batch_size > 0) m->add_shape(-1);
        for (int64_t d : t.dims) m->add_shape(d);
      };
      for (const auto& t : c.inputs) fill(t, r->add_inputs());
      for (const auto& t : c.outputs) fill(t, r->add_outputs());
    });
  }
  grpc::Status ModelConfig(grpc::ServerContext* ctx, const inference::ModelConfigRequest* q, inference::ModelConfigResponse* r) override {
    if (grpc::Status st = check(ctx, Role::kInfer); !st.ok()) return st;
    return guarded([&] {
      auto mv = server_.repository().get(q->name(), q->version());
      if (!r->mutable_config()->ParseFromString(model_config_proto_bytes(mv->config())))
        throw ServeError(Status::kInternal, "model config does not serialize");
    });
  }
  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* q, inference::ModelInferResponse* r) override {
    if (grpc::Status st = check(ctx, Role::kInfer); !st.ok()) return st;
    return guarded([&] {
      int64_t timeout_us = 0;
      InferRequest req = decode_grpc_infer_request(*q, &timeout_us);
      req.id = q->id();  // answers echo it; delayed labels refer to it (feedback)
      auto ctx_deadline = ctx->deadline();
      const auto now_sys = std::chrono::system_clock::now();
      if (ctx_deadline < now_sys + std::chrono::hours(24 * 365))
        req.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(ctx_deadline - now_sys);
      if (timeout_us > 0) req.deadline = std::min(req.deadline, Clock::now() + std::chrono::microseconds(timeout_us));
      int64_t version = 0;
      InferResult out = server_.infer(q->model_name(), q->model_version(), std::move(req), &version);
      r->set_model_name(q->model_name());
      r->set_model_version(std::to_string(version));
      r->set_id(out.id);
      for (const auto& [name, t] : out.outputs) {
        auto* o = r->add_outputs();
        o->set_name(name);
        o->set_datatype(oip_datatype(t.dtype()));
        for (int64_t d : t.shape().dims()) o->add_shape(d);
        r->add_raw_output_contents(std::string(static_cast<const char*>(t.raw()), t.nbytes()));
      }
    });
  }
  grpc::Status RepositoryIndex(grpc::ServerContext* ctx, const inference::RepositoryIndexRequest* q,
                               inference::RepositoryIndexResponse* r) override {
    if (grpc::Status st = check(ctx, Role::kAdmin); !st.ok()) return st;
    for (const auto& e : server_.repository().index()) {
      if (q->ready() && e.state != "READY") continue;
      auto* m = r->add_models();
      m->set_name(e.name);
      m->set_version(e.version);
      m->set_state(e.state);
      m->set_reason(e.reason);
    }
    return grpc::Status::OK;
  }
  grpc::Status RepositoryModelLoad(grpc::ServerContext* ctx, const inference::RepositoryModelLoadRequest* q,
                                   inference::RepositoryModelLoadResponse*) override {
    if (grpc::Status st = check(ctx, Role::kAdmin); !st.ok()) return st;
    return guarded([&] {
      if (server_.stopping()) throw ServeError(Status::kUnavailable, "the server is shutting down");
      server_.repository().load(q->model_name());
    });
  }
  grpc::Status RepositoryModelUnload(grpc::ServerContext* ctx, const inference::RepositoryModelUnloadRequest* q,
                                     inference::RepositoryModelUnloadResponse*) override {
    if (grpc::Status st = check(ctx, Role::kAdmin); !st.ok()) return st;
    return guarded([&] { server_.repository().unload(q->model_name()); });
  }

 private:
  Server& server_;
};

struct GrpcFrontend::Impl {
  Server& server;
  InferenceService service;
  std::unique_ptr<grpc::Server> grpc_server;
  explicit Impl(Server& s) : server(s), service(s) {}
};

GrpcFrontend::GrpcFrontend(Server& server) : impl_(std::make_unique<Impl>(server)) {}
GrpcFrontend::~GrpcFrontend() { stop(); }

int GrpcFrontend::start(const std::string& host, int port) {
  grpc::ServerBuilder b;
  // gRPC enables SO_REUSEPORT by default: a second server on the same port would start and share
  // the traffic instead of failing with "port in use".
  b.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int bound = 0;
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (impl_->server.tls_enabled()) {
    const TlsFiles& t = impl_->server.tls();
    grpc::SslServerCredentialsOptions o(t.client_ca_pem.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                                : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    o.pem_root_certs = t.client_ca_pem;
    o.pem_key_cert_pairs.push_back({t.key_pem, t.cert_pem});
    creds = grpc::SslServerCredentials(o);
  }
  b.AddListeningPort(host + ":" + std::to_string(port), creds, &bound);
  b.RegisterService(&impl_->service);
  const size_t max_bytes = impl_->server.options().max_request_bytes;
  b.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(max_bytes, INT32_MAX)));
  b.SetMaxSendMessageSize(INT32_MAX);
  impl_->grpc_server = b.BuildAndStart();
  if (!impl_->grpc_server || bound == 0)
    throw_error(ErrorCode::kUnavailable, "gRPC: cannot listen on " + host + ":" + std::to_string(port) + " (port in use?)");
  return bound;
}

void GrpcFrontend::stop() {
  if (impl_ && impl_->grpc_server) {
    // In-flight RPCs get up to 30 s to finish; new ones are refused.
    impl_->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
    impl_->grpc_server->Wait();
    impl_->grpc_server.reset();
  }
}

}  // namespace edgeopt::serve

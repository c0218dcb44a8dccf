#include <grpcpp/grpcpp.h>

#include <cstring>

#include "grpc_service.grpc.pb.h"
#include "model_config.pb.h"
#include "serve/frontends.h"
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

[[noreturn]] void bad(const std::string& msg) { throw ServeError(Status::kBadRequest, msg); }

template <typename T, typename Src>
void copy_typed(Tensor& t, const Src& src) {
  T* p = static_cast<T*>(t.raw());
  for (int i = 0; i < src.size(); ++i) p[i] = static_cast<T>(src[i]);
}

// One input tensor from typed `contents` (the typed field for its datatype, Triton's rules).
Tensor tensor_from_contents(const inference::ModelInferRequest::InferInputTensor& in, DType dt, const Shape& shape) {
  const auto& c = in.contents();
  const std::string what = "input '" + in.name() + "'";
  int count = 0;
  auto check = [&](int n, const char* field) {
    if (n != shape.numel())
      bad(what + ": contents." + field + " has " + std::to_string(n) + " values but shape " + shape.str() + " needs " +
          std::to_string(shape.numel()));
    count = n;
  };
  Tensor t(dt, shape);
  switch (dt) {
    case DType::kF32:
      check(c.fp32_contents_size(), "fp32_contents");
      if (count) std::memcpy(t.raw(), c.fp32_contents().data(), static_cast<size_t>(count) * 4);
      break;
    case DType::kI64: check(c.int64_contents_size(), "int64_contents"); copy_typed<int64_t>(t, c.int64_contents()); break;
    case DType::kI32: check(c.int_contents_size(), "int_contents"); copy_typed<int32_t>(t, c.int_contents()); break;
    case DType::kI8: check(c.int_contents_size(), "int_contents"); copy_typed<int8_t>(t, c.int_contents()); break;
    case DType::kU8: check(c.uint_contents_size(), "uint_contents"); copy_typed<uint8_t>(t, c.uint_contents()); break;
    case DType::kBool: check(c.bool_contents_size(), "bool_contents"); copy_typed<uint8_t>(t, c.bool_contents()); break;
    case DType::kF16:
    case DType::kBF16: bad(what + ": " + oip_datatype(dt) + " has no typed contents field; send it in raw_input_contents");
  }
  return t;
}

}  // namespace

class InferenceService final : public inference::GRPCInferenceService::Service {
 public:
  explicit InferenceService(Server& s) : server_(s) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*, inference::ServerLiveResponse* r) override {
    r->set_live(server_.live());
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*, inference::ServerReadyResponse* r) override {
    r->set_ready(server_.ready());
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* q, inference::ModelReadyResponse* r) override {
    try {
      server_.repository().get(q->name(), q->version());
      r->set_ready(!server_.stopping());
    } catch (const ServeError&) {
      r->set_ready(false);
    }
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* r) override {
    r->set_name(kServerName);
    r->set_version(kServerVersion);
    for (const auto& e : server_.extensions()) r->add_extensions(e);
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* q,
                             inference::ModelMetadataResponse* r) override {
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
  grpc::Status ModelConfig(grpc::ServerContext*, const inference::ModelConfigRequest* q, inference::ModelConfigResponse* r) override {
    return guarded([&] {
      auto mv = server_.repository().get(q->name(), q->version());
      if (!r->mutable_config()->ParseFromString(model_config_proto_bytes(mv->config())))
        throw ServeError(Status::kInternal, "model config does not serialize");
    });
  }
  grpc::Status ModelInfer(grpc::ServerContext* ctx, const inference::ModelInferRequest* q, inference::ModelInferResponse* r) override {
    return guarded([&] {
      InferRequest req;
      req.id = q->id();
      const bool raw = q->raw_input_contents_size() > 0;
      if (raw && q->raw_input_contents_size() != q->inputs_size())
        bad("raw_input_contents has " + std::to_string(q->raw_input_contents_size()) + " entries for " +
            std::to_string(q->inputs_size()) + " inputs (one per input, in order)");
      if (q->inputs_size() == 0) bad("the request has no inputs");
      for (int i = 0; i < q->inputs_size(); ++i) {
        const auto& in = q->inputs(i);
        const std::string what = "input '" + in.name() + "'";
        if (req.inputs.count(in.name())) bad(what + " is given twice");
        DType dt;
        try {
          dt = dtype_from_oip(in.datatype(), what);
        } catch (const Error& e) {
          bad(e.message());
        }
        std::vector<int64_t> dims(in.shape().begin(), in.shape().end());
        for (int64_t d : dims)
          if (d < 0 || d > (int64_t{1} << 40)) bad(what + ": shape has dim " + std::to_string(d));
        Shape shape(dims);
        if (raw) {
          const std::string& bytes = q->raw_input_contents(i);
          const size_t need = static_cast<size_t>(shape.numel()) * dtype_size(dt);
          if (bytes.size() != need)
            bad(what + ": raw_input_contents has " + std::to_string(bytes.size()) + " bytes but " + in.datatype() +
                shape.str() + " needs " + std::to_string(need));
          Tensor t(dt, shape);
          if (need) std::memcpy(t.raw(), bytes.data(), need);
          req.inputs[in.name()] = t;
        } else {
          req.inputs[in.name()] = tensor_from_contents(in, dt, shape);
        }
      }
      for (const auto& o : q->outputs()) req.outputs.push_back(o.name());
      int64_t timeout_us = 0;
      auto pit = q->parameters().find("timeout");
      if (pit != q->parameters().end()) timeout_us = pit->second.int64_param();
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
  grpc::Status RepositoryIndex(grpc::ServerContext*, const inference::RepositoryIndexRequest* q,
                               inference::RepositoryIndexResponse* r) override {
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
  grpc::Status RepositoryModelLoad(grpc::ServerContext*, const inference::RepositoryModelLoadRequest* q,
                                   inference::RepositoryModelLoadResponse*) override {
    return guarded([&] {
      if (server_.stopping()) throw ServeError(Status::kUnavailable, "the server is shutting down");
      server_.repository().load(q->model_name());
    });
  }
  grpc::Status RepositoryModelUnload(grpc::ServerContext*, const inference::RepositoryModelUnloadRequest* q,
                                     inference::RepositoryModelUnloadResponse*) override {
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
  b.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
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

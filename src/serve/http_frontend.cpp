#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "serve/frontends.h"
#include "serve/dashboard.h"
#include "serve/metrics.h"
#include "serve/monitor_json.h"
#include "serve/oip_http.h"
#include "serve/server.h"

namespace edgeopt::serve {

namespace {

using json = nlohmann::json;

void send_error(httplib::Response& res, Status s, const std::string& msg) {
  res.status = http_status(s);
  res.set_content(oip_error_json(msg), "application/json");
}

void send_json(httplib::Response& res, const json& j) { res.set_content(j.dump(), "application/json"); }

json tensor_metadata(const TensorConfig& t, int max_batch) {
  std::vector<int64_t> shape = t.dims;
  if (max_batch > 0) shape.insert(shape.begin(), -1);
  return {{"name", t.name}, {"datatype", oip_datatype(t.dtype)}, {"shape", shape}};
}

// The role an HTTP endpoint needs: health stays open (load balancers and liveness probes carry no
// token), the repository extension is admin, everything else (metadata, inference, config,
// metrics, unknown paths, so a 404 does not reveal which paths exist) needs infer.
Role http_role(const std::string& path) {
  if (path == "/v2/health/live" || path == "/v2/health/ready") return Role::kNone;
  if (path.rfind("/v2/repository", 0) == 0) return Role::kAdmin;
  return Role::kInfer;
}

// Path parts: [1] model, [2] version or empty.
std::string version_of(const httplib::Request& req) { return req.matches.size() > 2 ? req.matches[2].str() : ""; }

}  // namespace

// httplib::SSLServer (TLS 1.2 or later) when the server has a certificate, else plain httplib::Server.
std::unique_ptr<httplib::Server> make_http_server(const Server& s) {
  if (!s.tls_enabled()) return std::make_unique<httplib::Server>();
  const TlsFiles& t = s.tls();
  auto ssl = std::make_unique<httplib::SSLServer>(t.cert_path.c_str(), t.key_path.c_str(),
                                                  t.client_ca_path.empty() ? nullptr : t.client_ca_path.c_str());
  if (!ssl->is_valid())
    throw_error(ErrorCode::kInvalidArgument, "HTTPS: OpenSSL refused the certificate '" + t.cert_path + "' / key '" +
                                                 t.key_path + "'" + (t.client_ca_path.empty() ? "" : " / client CA '" + t.client_ca_path + "'"));
  SSL_CTX_set_min_proto_version(ssl->ssl_context(), TLS1_2_VERSION);
  return ssl;
}

struct HttpFrontend::Impl {
  Server& server;
  std::unique_ptr<httplib::Server> http_ptr;
  httplib::Server& http;
  std::thread thread;
  explicit Impl(Server& s) : server(s), http_ptr(make_http_server(s)), http(*http_ptr) {}

  // Runs a handler body, turning ServeError / edgeopt::Error / anything else into an OIP error.
  template <typename F>
  void guarded(httplib::Response& res, F&& f) {
    try {
      f();
    } catch (const ServeError& e) {
      send_error(res, e.status(), e.message());
    } catch (const Error& e) {
      ServeError se = ServeError::from(e);
      send_error(res, se.status(), se.message());
    } catch (const std::exception& e) {
      send_error(res, Status::kInternal, e.what());
    }
  }

  // {"labels": [{"id": "...", ["row": k,] "label": int | "value": number | [numbers]}]}: a malformed
  // body is a 400; a malformed entry is rejected with its reason and the others still count.
  json apply_feedback(const std::string& model, const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("labels") || !j["labels"].is_array())
      throw ServeError(Status::kBadRequest, "feedback: the body must be {\"labels\": [{\"id\": ..., \"label\": int} or {\"id\": ..., \"value\": number}]}");
    std::vector<monitor::Label> labels;
    std::vector<std::string> bad;
    for (size_t i = 0; i < j["labels"].size(); ++i) {
      const json& e = j["labels"][i];
      const std::string at = "labels[" + std::to_string(i) + "]";
      if (!e.is_object() || !e.contains("id") || !e["id"].is_string()) {
        bad.push_back(at + ": needs a string \"id\"");
        continue;
      }
      monitor::Label l;
      l.id = e["id"].get<std::string>();
      if (e.contains("row")) {
        if (!e["row"].is_number_integer()) {
          bad.push_back(at + ": \"row\" must be an integer");
          continue;
        }
        l.row = e["row"].get<int64_t>();
      }
      if (e.contains("label")) {
        if (!e["label"].is_number_integer()) {
          bad.push_back(at + ": \"label\" must be an integer class id");
          continue;
        }
        l.label = e["label"].get<int64_t>();
      }
      if (e.contains("value")) {
        const json& v = e["value"];
        bool ok = v.is_number() || (v.is_array() && !v.empty());
        if (v.is_number()) l.value.push_back(v.get<float>());
        if (v.is_array())
          for (const auto& x : v) {
            if (!x.is_number()) ok = false;
            else l.value.push_back(x.get<float>());
          }
        if (!ok) {
          bad.push_back(at + ": \"value\" must be a number or a non-empty list of numbers");
          continue;
        }
      }
      labels.push_back(std::move(l));
    }
    monitor::ApplyResult r = server.feedback().apply(model, labels);
    std::vector<std::string> errors = bad;
    errors.insert(errors.end(), r.errors.begin(), r.errors.end());
    if (errors.size() > 20) errors.resize(20);
    return {{"matched", r.matched}, {"unknown", r.unknown}, {"duplicate", r.duplicate},
            {"rejected", r.rejected + bad.size()}, {"unknown_ids", r.unknown_ids}, {"errors", errors}};
  }

  void routes() {
    // Before routing and before the body is read, so a refused request costs no body buffering.
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!server.auth_enabled()) return httplib::Server::HandlerResponse::Unhandled;
      const AuthDecision d = server.authorize(req.get_header_value("Authorization"), http_role(req.path));
      if (d.outcome == AuthOutcome::kAllowed) return httplib::Server::HandlerResponse::Unhandled;
      const bool unauth = d.outcome == AuthOutcome::kUnauthenticated;
      // RFC 6750: the challenge tells the client what to send; invalid_token vs insufficient_scope.
      res.set_header("WWW-Authenticate", unauth ? (req.has_header("Authorization")
                                                        ? R"(Bearer realm="edgeopt", error="invalid_token")"
                                                        : R"(Bearer realm="edgeopt")")
                                                 : R"(Bearer realm="edgeopt", error="insufficient_scope")");
      // The body (if any) was not read; closing the connection keeps it from being parsed as the
      // next request on a keep-alive connection.
      res.set_header("Connection", "close");
      send_error(res, unauth ? Status::kUnauthenticated : Status::kForbidden, d.message);
      return httplib::Server::HandlerResponse::Handled;
    });
    const std::string model_re = R"(/v2/models/([^/]+)(?:/versions/([0-9]+))?)";
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      guarded(res, [&] {
        res.set_content(render_prometheus_metrics(server), "text/plain; version=0.0.4; charset=utf-8");
      });
    });
    http.Get("/v2/monitor", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        double window = 10;
        if (req.has_param("window_s")) {
          try {
            window = std::stod(req.get_param_value("window_s"));
          } catch (const std::exception&) {
            window = 0;
          }
          if (!(window > 0 && window <= 3600)) throw ServeError(Status::kBadRequest, "window_s must be in (0, 3600]");
        }
        send_json(res, monitor_snapshot(server, window));
      });
    });
    http.Get("/dashboard", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(dashboard_html(), "text/html; charset=utf-8");
    });
    http.Post(R"(/v2/models/([^/]+)/feedback)", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        const std::string model = req.matches[1];
        server.repository().get(model, "");  // 404 for an unknown model
        send_json(res, apply_feedback(model, req.body));
      });
    });
    http.Get(R"(/v2/models/([^/]+)/feedback)", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        const std::string model = req.matches[1];
        server.repository().get(model, "");
        json versions = json::array();
        for (const auto& r : server.feedback().rolling_all()) {
          if (r.model != model) continue;
          json v = {{"version", r.version}, {"task", r.task}, {"n", r.n}, {"labels_total", r.labels_total}};
          if (r.task == "regression") {
            v["mae"] = r.mae;
            v["rmse"] = r.rmse;
          } else {
            v["accuracy"] = r.accuracy;
            v["precision"] = r.precision;
            v["recall"] = r.recall;
            v["f1"] = r.f1;
          }
          versions.push_back(v);
        }
        send_json(res, {{"model", model}, {"window", server.feedback().options().window},
                        {"unknown_total", server.feedback().unknown_total(model)}, {"versions", versions}});
      });
    });
    http.Get("/v2/health/live", [this](const httplib::Request&, httplib::Response& res) {
      res.status = server.live() ? 200 : 503;
      send_json(res, {{"live", server.live()}});
    });
    http.Get("/v2/health/ready", [this](const httplib::Request&, httplib::Response& res) {
      const bool r = server.ready();
      res.status = r ? 200 : 503;
      send_json(res, {{"ready", r}});
    });
    http.Get("/v2", [this](const httplib::Request&, httplib::Response& res) {
      send_json(res, {{"name", kServerName}, {"version", kServerVersion}, {"extensions", server.extensions()}});
    });
    http.Get(model_re + "/ready", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        auto mv = server.repository().get(req.matches[1], version_of(req));
        send_json(res, {{"name", mv->name()}, {"version", std::to_string(mv->version())}, {"ready", !server.stopping()}});
        if (server.stopping()) res.status = 503;
      });
    });
    http.Get(R"(/v2/models/([^/]+)(?:/versions/([0-9]+))?/config)", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        auto mv = server.repository().get(req.matches[1], version_of(req));
        res.set_content(model_config_json(mv->config()), "application/json");
      });
    });
    http.Get(model_re, [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        auto mv = server.repository().get(req.matches[1], version_of(req));
        const auto& c = mv->config();
        json versions = json::array();
        for (int64_t v : server.repository().versions(mv->name())) versions.push_back(std::to_string(v));
        json inputs = json::array(), outputs = json::array();
        for (const auto& t : c.inputs) inputs.push_back(tensor_metadata(t, c.max_batch_size));
        for (const auto& t : c.outputs) outputs.push_back(tensor_metadata(t, c.max_batch_size));
        send_json(res, {{"name", mv->name()}, {"versions", versions}, {"platform", c.platform},
                        {"inputs", inputs}, {"outputs", outputs}});
      });
    });
    http.Post(model_re + "/infer", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        size_t json_length = 0;
        if (req.has_header("Inference-Header-Content-Length")) {
          const std::string v = req.get_header_value("Inference-Header-Content-Length");
          try {
            size_t pos = 0;
            json_length = std::stoull(v, &pos);
            if (pos != v.size()) throw std::invalid_argument(v);
          } catch (const std::exception&) {
            throw ServeError(Status::kBadRequest, "Inference-Header-Content-Length '" + v + "' is not a byte count");
          }
        }
        HttpInferRequest r = parse_http_infer_request(req.body, json_length);
        if (r.timeout_us > 0) r.request.deadline = Clock::now() + std::chrono::microseconds(r.timeout_us);
        int64_t version = 0;
        r.request.id = r.id;
        InferResult out = server.infer(req.matches[1], version_of(req), r.request, &version);
        r.id = out.id;  // generated when the request had none: the key for POST .../feedback
        HttpInferBody b = encode_http_infer_response(req.matches[1], version, r, out);
        if (b.json_length) {
          res.set_header("Inference-Header-Content-Length", std::to_string(b.json_length));
          res.set_content(std::move(b.body), "application/octet-stream");
        } else {
          res.set_content(std::move(b.body), "application/json");
        }
      });
    });
    http.Post("/v2/repository/index", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        bool ready_only = false;
        if (!req.body.empty()) {
          json j = json::parse(req.body, nullptr, false);
          if (j.is_discarded() || !j.is_object()) throw ServeError(Status::kBadRequest, "repository index: the body must be a JSON object");
          ready_only = j.value("ready", false);
        }
        json arr = json::array();
        for (const auto& e : server.repository().index()) {
          if (ready_only && e.state != "READY") continue;
          json m = {{"name", e.name}, {"state", e.state}};
          if (!e.version.empty()) m["version"] = e.version;
          if (!e.reason.empty()) m["reason"] = e.reason;
          arr.push_back(m);
        }
        send_json(res, arr);
      });
    });
    http.Post(R"(/v2/repository/models/([^/]+)/load)", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        if (server.stopping()) throw ServeError(Status::kUnavailable, "the server is shutting down");
        server.repository().load(req.matches[1]);
        send_json(res, json::object());
      });
    });
    http.Post(R"(/v2/repository/models/([^/]+)/unload)", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] {
        server.repository().unload(req.matches[1]);
        send_json(res, json::object());
      });
    });
    // Statuses httplib sets itself (404 for unknown paths, 413 over the payload limit, 400 for a
    // broken request line) still answer in the protocol's error shape.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string msg;
      switch (res.status) {
        case 404: msg = "no endpoint " + req.method + " " + req.path + " (see GET /v2 and the KServe v2 protocol)"; break;
        case 405: msg = "method " + req.method + " is not allowed on " + req.path; break;
        case 413:
          msg = "request body is larger than the server's limit of " + std::to_string(server.options().max_request_bytes) +
                " bytes (--max-request-mb)";
          break;
        default: msg = "HTTP " + std::to_string(res.status) + " for " + req.method + " " + req.path; break;
      }
      res.set_content(oip_error_json(msg), "application/json");
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        msg = e.what();
      } catch (...) {
      }
      send_error(res, Status::kInternal, msg);
    });
  }
};

HttpFrontend::HttpFrontend(Server& server) : impl_(std::make_unique<Impl>(server)) {}
HttpFrontend::~HttpFrontend() { stop(); }

int HttpFrontend::start(const std::string& host, int port) {
  Impl& m = *impl_;
  const int threads = std::max(1, m.server.options().http_threads);
  m.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  m.http.set_payload_max_length(m.server.options().max_request_bytes);
  // A keep-alive connection holds its thread; rotating connections every 100 requests lets waiting
  // connections in when there are more of them than threads.
  m.http.set_keep_alive_max_count(100);
  m.http.set_keep_alive_timeout(10);
  m.routes();
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second server bind the same
  // port silently instead of failing with "port in use".
  socket_t listen_fd = -1;
  // TCP_NODELAY: httplib writes a response's header and body separately; with Nagle on, the body
  // waits for the client's delayed ACK (40 ms on Linux), which capped every connection at ~22 req/s
  // and put 44 ms on every answer. Accepted sockets inherit it from the listening socket.
  m.http.set_tcp_nodelay(true);
  m.http.set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    listen_fd = sock;
  });
  int bound = port == 0 ? m.http.bind_to_any_port(host) : (m.http.bind_to_port(host, port) ? port : -1);
  if (bound < 0)
    throw_error(ErrorCode::kUnavailable, "HTTP: cannot listen on " + host + ":" + std::to_string(port) + " (port in use?)");
  // httplib listens with a backlog of 5: a burst of new connections (a load balancer, wrk's 64)
  // overflows it and the kernel drops handshakes, which clients see as multi-second stalls.
  // listen() again on the bound socket only raises the backlog.
  if (listen_fd >= 0) ::listen(listen_fd, 1024);
  m.thread = std::thread([&m] { m.http.listen_after_bind(); });
  // httplib's stop() does nothing until the listen loop runs; a stop() right after start() (a later
  // start step failed) would otherwise leave the loop running and the join hanging.
  for (int i = 0; i < 10000 && !m.http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!m.http.is_running()) {
    m.thread.join();  // the loop ended without ever running: listen failed
    throw_error(ErrorCode::kUnavailable, "HTTP: the listen loop on " + host + ":" + std::to_string(bound) + " did not start");
  }
  return bound;
}

void HttpFrontend::stop() {
  if (!impl_) return;
  if (impl_->thread.joinable()) {
    impl_->http.stop();
    impl_->thread.join();
  }
}

}  // namespace edgeopt::serve

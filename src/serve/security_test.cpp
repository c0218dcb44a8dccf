// Security tests of `edgeopt serve`: the token file (format, permissions, errors naming file and
// line), bearer-token authentication with the infer/admin roles over HTTP and gRPC (every endpoint
// with no token, a malformed header, an unknown token, an infer token and an admin token), TLS and
// mutual TLS over HTTP and gRPC with a throwaway CA made by the openssl CLI (round trips, a client
// trusting another CA refuses the server, the offload client verifies the cloud's certificate).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <nlohmann/json.hpp>

#include "grpc_service.grpc.pb.h"
#include "onnx/export.h"
#include "serve/auth.h"
#include "serve/grpc_codec.h"
#include "serve/oip_http.h"
#include "serve/server.h"
#include "serve/tls.h"
#include "split/oip_client.h"

namespace edgeopt::serve {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const std::string kInferToken = "infer-token-0123456789abcdef";
const std::string kAdminToken = "admin-token-fedcba9876543210";

// y[N,3] = x[N,4] @ W
Graph affine_graph() {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape({-1, 4}), {"N", ""}});
  std::vector<float> w(12);
  for (int i = 0; i < 12; ++i) w[static_cast<size_t>(i)] = 0.1f * static_cast<float>(i);
  g.initializers["W"] = Tensor::from_vector<float>({4, 3}, w);
  g.add_node("MatMul", {"x", "W"}, {"y"}, "mm");
  g.outputs.push_back({"y", DType::kF32, Shape({-1, 3}), {"N", ""}});
  return g;
}

fs::path temp_dir(const std::string& tag) {
  auto p = fs::temp_directory_path() / ("edgeopt_security_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write_file(const fs::path& p, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream f(p, std::ios::binary);
    f << text;
  }
  ::chmod(p.c_str(), mode);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A server on free ports over a temporary repository holding "affine" version 1; tokens on.
struct AuthServer {
  fs::path dir, repo;
  std::unique_ptr<Server> server;
  explicit AuthServer(const std::string& tag, const std::function<void(ServerOptions&)>& tweak = nullptr) {
    dir = temp_dir(tag);
    repo = dir / "repo";
    fs::create_directories(repo / "affine" / "1");
    onnx::save_model(affine_graph(), (repo / "affine" / "1" / "model.onnx").string());
    write_file(dir / "tokens", "# role token\ninfer " + kInferToken + "\nadmin " + kAdminToken + "  # the operator\n");
    ServerOptions o;
    o.model_repo = repo.string();
    o.host = "127.0.0.1";
    o.http_port = 0;
    o.grpc_port = 0;
    o.poll_s = 0;
    o.auth_tokens_file = (dir / "tokens").string();
    if (tweak) tweak(o);
    server = std::make_unique<Server>(o);
    server->start();
  }
  ~AuthServer() {
    server->stop();
    fs::remove_all(dir);
  }
};

// ------------------------------------------------------------------------------------------------
// The token file

TEST(TokenStore, RolesAndConstantTimeLookup) {
  TokenStore t = TokenStore::parse("infer " + kInferToken + "\n\n  # comment\nadmin\t" + kAdminToken + "\r\n", "t");
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.role_of(kInferToken), Role::kInfer);
  EXPECT_EQ(t.role_of(kAdminToken), Role::kAdmin);
  EXPECT_EQ(t.role_of(""), Role::kNone);
  EXPECT_EQ(t.role_of(kInferToken.substr(0, kInferToken.size() - 1)), Role::kNone);  // a prefix is no token
  EXPECT_EQ(t.role_of(kInferToken + "x"), Role::kNone);
  EXPECT_EQ(t.authorize("Bearer " + kInferToken, Role::kInfer).outcome, AuthOutcome::kAllowed);
  EXPECT_EQ(t.authorize("bearer " + kAdminToken, Role::kInfer).outcome, AuthOutcome::kAllowed);
  EXPECT_EQ(t.authorize("Bearer " + kInferToken, Role::kAdmin).outcome, AuthOutcome::kForbidden);
  EXPECT_EQ(t.authorize("", Role::kInfer).outcome, AuthOutcome::kUnauthenticated);
  EXPECT_EQ(t.authorize(kInferToken, Role::kInfer).outcome, AuthOutcome::kUnauthenticated);  // no scheme
  EXPECT_EQ(t.authorize("Basic " + kInferToken, Role::kInfer).outcome, AuthOutcome::kUnauthenticated);
  EXPECT_EQ(t.authorize("", Role::kNone).outcome, AuthOutcome::kAllowed);
  // Messages never echo the token.
  const std::string m = t.authorize("Bearer " + kInferToken, Role::kAdmin).message;
  EXPECT_EQ(m.find(kInferToken), std::string::npos) << m;
  EXPECT_NE(m.find("'admin' role"), std::string::npos) << m;
}

TEST(TokenStore, FormatErrorsNameTheFileAndLine) {
  auto err = [](const std::string& text) { return error_of([&] { TokenStore::parse(text, "conf/tokens"); }); };
  EXPECT_NE(err("infer " + kInferToken + "\nroot " + kAdminToken + "\n").find("'conf/tokens' line 2: unknown role 'root'"),
            std::string::npos);
  EXPECT_NE(err("# x\n\nadmin short\n").find("'conf/tokens' line 3: the token has 5 characters"), std::string::npos);
  EXPECT_NE(err("infer\n").find("line 1: role 'infer' has no token"), std::string::npos);
  EXPECT_NE(err("infer " + kInferToken + " extra\n").find("line 1: the token has a space"), std::string::npos);
  EXPECT_NE(err("infer " + kInferToken + "\nadmin " + kInferToken + "\n").find("line 2: the token is listed twice"),
            std::string::npos);
  EXPECT_NE(err("# nothing\n").find("'conf/tokens' lists no token"), std::string::npos);
  // A message about a bad token line never contains the token itself.
  EXPECT_EQ(err("infer " + kInferToken + " extra\n").find(kInferToken), std::string::npos);
}

TEST(TokenStore, FilePermissionsAreChecked) {
  const fs::path d = temp_dir("perm");
  write_file(d / "ok", "admin " + kAdminToken + "\n", 0600);
  EXPECT_EQ(TokenStore::load_file((d / "ok").string()).role_of(kAdminToken), Role::kAdmin);
  write_file(d / "open", "admin " + kAdminToken + "\n", 0644);
  const std::string e = error_of([&] { TokenStore::load_file((d / "open").string()); });
  EXPECT_NE(e.find((d / "open").string()), std::string::npos) << e;
  EXPECT_NE(e.find("mode 0644"), std::string::npos) << e;
  EXPECT_NE(e.find("chmod 600"), std::string::npos) << e;
  const std::string missing = error_of([&] { TokenStore::load_file((d / "none").string()); });
  EXPECT_NE(missing.find("cannot open"), std::string::npos) << missing;
  // The server refuses to start on a bad token file (not: starts open).
  ServerOptions o;
  o.model_repo = d.string();
  o.auth_tokens_file = (d / "open").string();
  EXPECT_THROW(Server{o}, Error);
  fs::remove_all(d);
}

// ------------------------------------------------------------------------------------------------
// HTTP: every endpoint x every credential

enum class Cred { kNone, kMalformed, kUnknown, kInfer, kAdmin };
const char* cred_name(Cred c) {
  switch (c) {
    case Cred::kNone: return "no token";
    case Cred::kMalformed: return "'Token <infer>' (wrong scheme)";
    case Cred::kUnknown: return "unknown token";
    case Cred::kInfer: return "infer token";
    case Cred::kAdmin: return "admin token";
  }
  return "?";
}
std::string header_of(Cred c) {
  switch (c) {
    case Cred::kNone: return "";
    case Cred::kMalformed: return "Token " + kInferToken;
    case Cred::kUnknown: return "Bearer not-a-token-0000000000000000";
    case Cred::kInfer: return "Bearer " + kInferToken;
    case Cred::kAdmin: return "Bearer " + kAdminToken;
  }
  return "";
}
const Cred kCreds[] = {Cred::kNone, Cred::kMalformed, Cred::kUnknown, Cred::kInfer, Cred::kAdmin};

// The status an endpoint needing `needed` gives for `c` when the call itself would succeed with `ok`.
int expected_http(Role needed, Cred c, int ok) {
  if (needed == Role::kNone) return ok;
  if (c == Cred::kNone || c == Cred::kMalformed || c == Cred::kUnknown) return 401;
  if (needed == Role::kAdmin && c == Cred::kInfer) return 403;
  return ok;
}

TEST(HttpAuth, EveryEndpointWithEveryCredential) {
  AuthServer s("http");
  const std::string infer_body =
      json{{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 4}}, {"data", {1, 2, 3, 4}}}}}}.dump();
  struct Endpoint {
    std::string method, path, body;
    Role needed;
    int ok;  // the status when allowed
  };
  const std::vector<Endpoint> endpoints = {
      {"GET", "/v2/health/live", "", Role::kNone, 200},
      {"GET", "/v2/health/ready", "", Role::kNone, 200},
      {"GET", "/v2", "", Role::kInfer, 200},
      {"GET", "/v2/models/affine", "", Role::kInfer, 200},
      {"GET", "/v2/models/affine/versions/1", "", Role::kInfer, 200},
      {"GET", "/v2/models/affine/ready", "", Role::kInfer, 200},
      {"GET", "/v2/models/affine/config", "", Role::kInfer, 200},
      {"GET", "/metrics", "", Role::kInfer, 200},
      {"POST", "/v2/models/affine/infer", infer_body, Role::kInfer, 200},
      {"POST", "/v2/models/affine/versions/1/infer", infer_body, Role::kInfer, 200},
      {"GET", "/v2/no/such/path", "", Role::kInfer, 404},  // unknown paths do not reveal themselves to strangers
      {"POST", "/v2/repository/index", "", Role::kAdmin, 200},
      {"POST", "/v2/repository/models/affine/unload", "", Role::kAdmin, 200},
      {"POST", "/v2/repository/models/affine/load", "", Role::kAdmin, 200},
  };
  int checked = 0;
  for (const Endpoint& e : endpoints) {
    for (Cred c : kCreds) {
      httplib::Client cli("127.0.0.1", s.server->http_port());
      cli.set_read_timeout(10);
      httplib::Headers h;
      if (c != Cred::kNone) h.emplace("Authorization", header_of(c));
      auto res = e.method == "GET" ? cli.Get(e.path.c_str(), h) : cli.Post(e.path.c_str(), h, e.body, "application/json");
      const std::string what = e.method + " " + e.path + " with " + cred_name(c);
      ASSERT_TRUE(res) << what << ": " << httplib::to_string(res.error());
      const int want = expected_http(e.needed, c, e.ok);
      EXPECT_EQ(res->status, want) << what << ": " << res->body;
      if (want == 401) {
        EXPECT_EQ(res->get_header_value("WWW-Authenticate").rfind("Bearer realm=\"edgeopt\"", 0), 0u) << what;
        EXPECT_NE(json::parse(res->body)["error"].get<std::string>().size(), 0u) << what;
      }
      if (want == 403) {
        EXPECT_NE(res->get_header_value("WWW-Authenticate").find("insufficient_scope"), std::string::npos) << what;
        EXPECT_NE(res->body.find("needs the 'admin' role"), std::string::npos) << what << ": " << res->body;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 14 * 5);
  // The unload/load above with admin rights really acted: the model is loaded again and answers.
  httplib::Client cli("127.0.0.1", s.server->http_port());
  auto res = cli.Post("/v2/models/affine/infer", {{"Authorization", "Bearer " + kInferToken}}, infer_body, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
}

TEST(HttpAuth, ARefusedRequestWithABodyDoesNotPoisonTheConnection) {
  AuthServer s("http_keepalive");
  httplib::Client cli("127.0.0.1", s.server->http_port());
  cli.set_keep_alive(true);
  const std::string body(100000, '{');  // unread by the server: it refuses before reading the body
  auto r1 = cli.Post("/v2/models/affine/infer", body, "application/json");
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 401);
  auto r2 = cli.Get("/v2/models/affine", {{"Authorization", "Bearer " + kInferToken}});
  ASSERT_TRUE(r2) << httplib::to_string(r2.error());
  EXPECT_EQ(r2->status, 200) << r2->body;
}

// ------------------------------------------------------------------------------------------------
// gRPC: every method x every credential

TEST(GrpcAuth, EveryMethodWithEveryCredential) {
  AuthServer s("grpc");
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(s.server->grpc_port()), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  using Call = std::function<grpc::Status(grpc::ClientContext*)>;
  struct Method {
    std::string name;
    Role needed;
    Call call;
  };
  inference::ModelInferRequest infer_q;
  infer_q.set_model_name("affine");
  auto* in = infer_q.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(1);
  in->add_shape(4);
  for (float f : {1.f, 2.f, 3.f, 4.f}) in->mutable_contents()->add_fp32_contents(f);
  const std::vector<Method> methods = {
      {"ServerLive", Role::kNone, [&](grpc::ClientContext* c) { inference::ServerLiveResponse r; return stub->ServerLive(c, {}, &r); }},
      {"ServerReady", Role::kNone, [&](grpc::ClientContext* c) { inference::ServerReadyResponse r; return stub->ServerReady(c, {}, &r); }},
      {"ServerMetadata", Role::kInfer,
       [&](grpc::ClientContext* c) { inference::ServerMetadataResponse r; return stub->ServerMetadata(c, {}, &r); }},
      {"ModelReady", Role::kInfer,
       [&](grpc::ClientContext* c) {
         inference::ModelReadyRequest q;
         q.set_name("affine");
         inference::ModelReadyResponse r;
         return stub->ModelReady(c, q, &r);
       }},
      {"ModelMetadata", Role::kInfer,
       [&](grpc::ClientContext* c) {
         inference::ModelMetadataRequest q;
         q.set_name("affine");
         inference::ModelMetadataResponse r;
         return stub->ModelMetadata(c, q, &r);
       }},
      {"ModelConfig", Role::kInfer,
       [&](grpc::ClientContext* c) {
         inference::ModelConfigRequest q;
         q.set_name("affine");
         inference::ModelConfigResponse r;
         return stub->ModelConfig(c, q, &r);
       }},
      {"ModelInfer", Role::kInfer, [&](grpc::ClientContext* c) { inference::ModelInferResponse r; return stub->ModelInfer(c, infer_q, &r); }},
      {"RepositoryIndex", Role::kAdmin,
       [&](grpc::ClientContext* c) { inference::RepositoryIndexResponse r; return stub->RepositoryIndex(c, {}, &r); }},
      {"RepositoryModelUnload", Role::kAdmin,
       [&](grpc::ClientContext* c) {
         inference::RepositoryModelUnloadRequest q;
         q.set_model_name("affine");
         inference::RepositoryModelUnloadResponse r;
         return stub->RepositoryModelUnload(c, q, &r);
       }},
      {"RepositoryModelLoad", Role::kAdmin,
       [&](grpc::ClientContext* c) {
         inference::RepositoryModelLoadRequest q;
         q.set_model_name("affine");
         inference::RepositoryModelLoadResponse r;
         return stub->RepositoryModelLoad(c, q, &r);
       }},
  };
  int checked = 0;
  for (const Method& m : methods) {
    for (Cred c : kCreds) {
      grpc::ClientContext ctx;
      if (c != Cred::kNone) ctx.AddMetadata("authorization", header_of(c));
      const grpc::Status st = m.call(&ctx);
      const std::string what = m.name + " with " + cred_name(c);
      const int want = expected_http(m.needed, c, 200);
      const grpc::StatusCode code = want == 401   ? grpc::StatusCode::UNAUTHENTICATED
                                    : want == 403 ? grpc::StatusCode::PERMISSION_DENIED
                                                  : grpc::StatusCode::OK;
      EXPECT_EQ(st.error_code(), code) << what << ": " << st.error_message();
      if (code == grpc::StatusCode::PERMISSION_DENIED) {
        EXPECT_NE(st.error_message().find("needs the 'admin' role"), std::string::npos) << what;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 10 * 5);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer " + kInferToken);
  inference::ModelInferResponse r;
  EXPECT_TRUE(stub->ModelInfer(&ctx, infer_q, &r).ok()) << "the model is back after admin unload + load";
}

TEST(HttpAuth, WithoutTokensEverythingStaysOpen) {
  AuthServer s("open", [](ServerOptions& o) { o.auth_tokens_file.clear(); });
  httplib::Client cli("127.0.0.1", s.server->http_port());
  EXPECT_EQ(cli.Post("/v2/repository/index", "", "application/json")->status, 200);
  EXPECT_EQ(cli.Get("/v2/models/affine")->status, 200);
}


// ------------------------------------------------------------------------------------------------
// TLS: a throwaway PKI from the openssl CLI (EC P-256 keys: fast to make)

struct Pki {
  fs::path dir;
  std::string path(const std::string& f) const { return (dir / f).string(); }
};

// ca.{crt,key}; server.{crt,key} for IP 127.0.0.1 / localhost signed by ca; client.{crt,key}
// signed by ca; other_ca.{crt,key} and stranger.{crt,key} (a client signed by other_ca).
const Pki& pki() {
  static const Pki p = [] {
    Pki k{temp_dir("pki")};
    const std::string d = k.dir.string();
    write_file(k.dir / "server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", 0644);
    write_file(k.dir / "client.ext", "extendedKeyUsage=clientAuth\n", 0644);
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string cmd =
        "set -e; cd '" + d + "'; exec 2>openssl.log; "
        "openssl req -x509" + key + " -keyout ca.key -out ca.crt -days 2 -subj '/CN=edgeopt test CA'; "
        "openssl req -x509" + key + " -keyout other_ca.key -out other_ca.crt -days 2 -subj '/CN=other CA'; "
        "for n in server client stranger; do openssl req" + key + " -keyout $n.key -out $n.csr -subj /CN=$n; done; "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext; "
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 -extfile client.ext; "
        "openssl x509 -req -in stranger.csr -CA other_ca.crt -CAkey other_ca.key -CAcreateserial -out stranger.crt -days 2 "
        "-extfile client.ext";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream log(k.dir / "openssl.log");
      std::stringstream ss;
      ss << log.rdbuf();
      throw std::runtime_error("openssl CLI failed making the test PKI: " + ss.str());
    }
    return k;
  }();
  return p;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct PkiCleanup : ::testing::Environment {
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("edgeopt_security_test_pki_" + std::to_string(::getpid())), ec);
  }
};
const auto* const kPkiCleanup = ::testing::AddGlobalTestEnvironment(new PkiCleanup);

TEST(Tls, FileErrorsNameTheFile) {
  const Pki& k = pki();
  auto err = [](const std::string& c, const std::string& key, const std::string& ca) {
    return error_of([&] { load_tls_files(c, key, ca); });
  };
  EXPECT_NE(err(k.path("server.crt"), "", "").find("needs both --tls-cert and --tls-key"), std::string::npos);
  EXPECT_NE(err("", "", k.path("ca.crt")).find("--tls-client-ca needs --tls-cert"), std::string::npos);
  EXPECT_NE(err(k.path("nope.crt"), k.path("server.key"), "").find("TLS certificate '" + k.path("nope.crt") + "': cannot open"),
            std::string::npos);
  EXPECT_NE(err(k.path("server.ext"), k.path("server.key"), "").find("'" + k.path("server.ext") + "' holds no valid PEM certificate"),
            std::string::npos);
  EXPECT_NE(err(k.path("server.crt"), k.path("server.crt"), "").find("'" + k.path("server.crt") + "' holds no unencrypted PEM private key"),
            std::string::npos);
  EXPECT_NE(err(k.path("server.crt"), k.path("client.key"), "").find("'" + k.path("client.key") + "' does not belong to the certificate"),
            std::string::npos);
  EXPECT_NE(err(k.path("server.crt"), k.path("server.key"), k.path("client.key")).find("TLS client CA '" + k.path("client.key") + "'"),
            std::string::npos);
  const TlsFiles ok = load_tls_files(k.path("server.crt"), k.path("server.key"), k.path("ca.crt"));
  EXPECT_NE(ok.cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
}

std::string infer_body() {
  return json{{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 4}}, {"data", {1, 2, 3, 4}}}}}}.dump();
}

inference::ModelInferRequest grpc_infer_request() {
  inference::ModelInferRequest q;
  q.set_model_name("affine");
  auto* in = q.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(1);
  in->add_shape(4);
  for (float f : {1.f, 2.f, 3.f, 4.f}) in->mutable_contents()->add_fp32_contents(f);
  return q;
}

grpc::Status grpc_infer(int port, const grpc::SslCredentialsOptions& o, const std::string& token = "") {
  grpc::ChannelArguments args;
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(o), args);
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  inference::ModelInferResponse r;
  grpc::Status st = stub->ModelInfer(&ctx, grpc_infer_request(), &r);
  if (st.ok() && r.raw_output_contents_size() != 1) return grpc::Status(grpc::StatusCode::INTERNAL, "no output");
  return st;
}

TEST(Tls, HttpsAndGrpcRoundTripAndAWrongCaIsRefused) {
  const Pki& k = pki();
  AuthServer s("tls", [&](ServerOptions& o) {
    o.auth_tokens_file.clear();
    o.tls_cert = k.path("server.crt");
    o.tls_key = k.path("server.key");
  });
  ASSERT_TRUE(s.server->tls_enabled());
  {
    httplib::SSLClient c("127.0.0.1", s.server->http_port());
    c.set_ca_cert_path(k.path("ca.crt").c_str());
    c.enable_server_certificate_verification(true);
    auto res = c.Post("/v2/models/affine/infer", infer_body(), "application/json");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(json::parse(res->body)["outputs"][0]["shape"], json::array({1, 3}));
  }
  {
    httplib::SSLClient c("127.0.0.1", s.server->http_port());
    c.set_ca_cert_path(k.path("other_ca.crt").c_str());
    c.enable_server_certificate_verification(true);
    auto res = c.Get("/v2/health/live");
    ASSERT_FALSE(res) << "a client trusting another CA must refuse the server";
    EXPECT_EQ(res.error(), httplib::Error::SSLServerVerification);
  }
  {
    httplib::Client plain("127.0.0.1", s.server->http_port());  // plain HTTP to the TLS port: no answer
    plain.set_read_timeout(5);
    auto res = plain.Get("/v2/health/live");
    EXPECT_FALSE(res && res->status == 200);
  }
  grpc::SslCredentialsOptions good;
  good.pem_root_certs = read_text(k.path("ca.crt"));
  const grpc::Status st = grpc_infer(s.server->grpc_port(), good);
  EXPECT_TRUE(st.ok()) << st.error_message();
  grpc::SslCredentialsOptions wrong;
  wrong.pem_root_certs = read_text(k.path("other_ca.crt"));
  EXPECT_EQ(grpc_infer(s.server->grpc_port(), wrong).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST(Tls, MutualTlsNeedsAClientCertificateFromTheClientCa) {
  const Pki& k = pki();
  AuthServer s("mtls", [&](ServerOptions& o) {
    o.auth_tokens_file.clear();
    o.tls_cert = k.path("server.crt");
    o.tls_key = k.path("server.key");
    o.tls_client_ca = k.path("ca.crt");
  });
  auto https_get = [&](const std::string& cert, const std::string& key) {
    httplib::SSLClient c("127.0.0.1", s.server->http_port(), cert, key);
    c.set_ca_cert_path(k.path("ca.crt").c_str());
    c.enable_server_certificate_verification(true);
    c.set_read_timeout(5);
    auto res = c.Post("/v2/models/affine/infer", infer_body(), "application/json");
    return res ? res->status : -1;
  };
  EXPECT_EQ(https_get(k.path("client.crt"), k.path("client.key")), 200);
  EXPECT_EQ(https_get("", ""), -1) << "no client certificate: the handshake fails";
  EXPECT_EQ(https_get(k.path("stranger.crt"), k.path("stranger.key")), -1) << "a client certificate from another CA";
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = read_text(k.path("ca.crt"));
  EXPECT_NE(grpc_infer(s.server->grpc_port(), o).error_code(), grpc::StatusCode::OK) << "gRPC without a client certificate";
  o.pem_cert_chain = read_text(k.path("stranger.crt"));
  o.pem_private_key = read_text(k.path("stranger.key"));
  EXPECT_NE(grpc_infer(s.server->grpc_port(), o).error_code(), grpc::StatusCode::OK) << "gRPC with another CA's client";
  o.pem_cert_chain = read_text(k.path("client.crt"));
  o.pem_private_key = read_text(k.path("client.key"));
  const grpc::Status st = grpc_infer(s.server->grpc_port(), o);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

// The edge's offload client (split::OipClient) against the server over TLS with tokens: it
// verifies the cloud's certificate against --cloud-ca and refuses a server it cannot verify.
TEST(Tls, OffloadClientVerifiesTheCloudCertificate) {
  const Pki& k = pki();
  AuthServer s("tls_client", [&](ServerOptions& o) {
    o.tls_cert = k.path("server.crt");
    o.tls_key = k.path("server.key");
  });
  const std::string url = "https://127.0.0.1:" + std::to_string(s.server->http_port());
  const std::map<std::string, Tensor> in{{"x", Tensor::from_vector<float>({1, 4}, {1, 2, 3, 4})}};
  {
    split::OipClient c(url, {.ca_file = k.path("ca.crt"), .bearer_token = kInferToken});
    const split::OipResult r = c.infer("affine", in, {"y"}, 10000);
    ASSERT_TRUE(r.ok()) << r.error;
    // y = x @ W with W[i][j] = 0.1 * (3i + j)
    const float* y = r.outputs.at("y").data<float>();
    for (int j = 0; j < 3; ++j) {
      float want = 0;
      for (int i = 0; i < 4; ++i) want += static_cast<float>(i + 1) * 0.1f * static_cast<float>(3 * i + j);
      EXPECT_NEAR(y[j], want, 1e-5) << j;
    }
  }
  {
    split::OipClient c(url, {.ca_file = k.path("ca.crt")});  // no token
    const split::OipResult r = c.infer("affine", in, {"y"}, 10000);
    EXPECT_EQ(r.status, split::OipStatus::kHttpError);
    EXPECT_EQ(r.http_status, 401) << r.error;
  }
  {
    split::OipClient c(url, {.ca_file = k.path("other_ca.crt"), .bearer_token = kInferToken});
    const split::OipResult r = c.infer("affine", in, {"y"}, 10000);
    EXPECT_EQ(r.status, split::OipStatus::kUnavailable) << r.error;
    EXPECT_NE(r.error.find("does not verify against the CA"), std::string::npos) << r.error;
    EXPECT_FALSE(c.ready(5000));
  }
  {
    // mTLS-capable client options against a plain-TLS server still work (the certificate is unused).
    split::OipClient c(url, {.ca_file = k.path("ca.crt"), .cert_file = k.path("client.crt"), .key_file = k.path("client.key"),
                             .bearer_token = kAdminToken});
    EXPECT_TRUE(c.ready(5000));
    EXPECT_TRUE(c.infer("affine", in, {"y"}, 10000).ok());
  }
}


// ------------------------------------------------------------------------------------------------
// Limits: elements and batch per request, decoding before allocation

TEST(Limits, ElementAndBatchLimitsNameTheTensorOverHttpAndGrpc) {
  AuthServer s("limits", [](ServerOptions& o) {
    o.auth_tokens_file.clear();
    o.max_tensor_elements = 8;
  });
  const json big = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {3, 4}}, {"data", std::vector<float>(12, 1.f)}}}}};
  httplib::Client c("127.0.0.1", s.server->http_port());
  auto r = c.Post("/v2/models/affine/infer", big.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("input 'x' has 12 elements"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("--max-elements"), std::string::npos) << r->body;
  const json ok = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {2, 4}}, {"data", std::vector<float>(8, 1.f)}}}}};
  EXPECT_EQ(c.Post("/v2/models/affine/infer", ok.dump(), "application/json")->status, 200);

  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(s.server->grpc_port()), grpc::InsecureChannelCredentials()));
  inference::ModelInferRequest q = grpc_infer_request();
  q.mutable_inputs(0)->set_shape(0, 3);
  for (int i = 0; i < 8; ++i) q.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.f);
  grpc::ClientContext ctx;
  inference::ModelInferResponse resp;
  const grpc::Status st = stub->ModelInfer(&ctx, q, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_NE(st.error_message().find("input 'x' has 12 elements"), std::string::npos) << st.error_message();
}

TEST(Limits, BatchLimitNamesTheTensor) {
  AuthServer s("batch", [](ServerOptions& o) {
    o.auth_tokens_file.clear();
    o.max_batch = 2;
  });
  const json three = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {3, 4}}, {"data", std::vector<float>(12, 1.f)}}}}};
  httplib::Client c("127.0.0.1", s.server->http_port());
  auto r = c.Post("/v2/models/affine/infer", three.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("input 'x' has 3 rows"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("--max-batch"), std::string::npos) << r->body;
}

TEST(Limits, ANameThatIsNotUtf8DoesNotBreakTheResponse) {
  // The model name comes from the URL (percent-decoded, any bytes; a folder name may be any bytes
  // too); dumping invalid UTF-8 used to throw json's type_error 316, an HTTP 500.
  HttpInferRequest r = parse_http_infer_request(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})", 0);
  InferResult out;
  out.outputs.emplace_back("y\xff", r.request.inputs.at("x"));
  std::string body;
  EXPECT_NO_THROW(body = encode_http_infer_response("m\xfe", 1, r, out).body);
  EXPECT_NE(body.find("\"model_name\":\"m\xef\xbf\xbd\""), std::string::npos) << body;  // U+FFFD
}

TEST(Limits, ClaimedShapesAreCheckedBeforeAllocating) {
  // JSON: a 100-byte body claiming 10^8 elements is a 400 about the count (not an 400 MB vector).
  try {
    parse_http_infer_request(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[100000000],"data":[1]}]})", 0);
    ADD_FAILURE() << "no error";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.status(), Status::kBadRequest);
    EXPECT_NE(e.message().find("'data' has 1 values but shape [100000000] needs 100000000"), std::string::npos) << e.message();
  }
  // gRPC: dims whose product overflows or exceeds 2^31 elements, and counts that do not match.
  auto decode_error = [](const inference::ModelInferRequest& q) {
    try {
      int64_t t = 0;
      decode_grpc_infer_request(q, &t);
    } catch (const ServeError& e) {
      EXPECT_EQ(e.status(), Status::kBadRequest);
      return e.message();
    }
    return std::string("(no error)");
  };
  inference::ModelInferRequest huge = grpc_infer_request();
  huge.mutable_inputs(0)->set_shape(0, int64_t{1} << 40);
  huge.mutable_inputs(0)->set_shape(1, int64_t{1} << 40);
  EXPECT_NE(decode_error(huge).find("input 'x': shape [1099511627776,1099511627776] has more than 2147483648 elements"),
            std::string::npos)
      << decode_error(huge);
  inference::ModelInferRequest claim = grpc_infer_request();
  claim.mutable_inputs(0)->set_shape(0, 1 << 20);
  EXPECT_NE(decode_error(claim).find("contents.fp32_contents has 4 values but shape [1048576,4] needs 4194304"), std::string::npos)
      << decode_error(claim);
  inference::ModelInferRequest i8 = grpc_infer_request();
  i8.mutable_inputs(0)->set_datatype("INT8");
  i8.mutable_inputs(0)->mutable_contents()->clear_fp32_contents();
  for (int v : {1, 2, 300, 4}) i8.mutable_inputs(0)->mutable_contents()->add_int_contents(v);
  EXPECT_NE(decode_error(i8).find("contents.int_contents[2] = 300 is out of range"), std::string::npos) << decode_error(i8);
}

// ------------------------------------------------------------------------------------------------
// The repository: manifest, size cap, containment

std::string sha256_hex(const fs::path& p) {
  const std::string b = read_text(p.string());
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(b.data()), b.size(), d);
  char out[2 * SHA256_DIGEST_LENGTH + 1];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(out + 2 * i, 3, "%02x", d[i]);
  return out;
}

std::string load_error(ModelRepository& r, const std::string& model) {
  try {
    r.load(model);
  } catch (const ServeError& e) {
    return e.message();
  }
  return "(loaded)";
}

TEST(Repository, ManifestIsVerifiedBeforeLoading) {
  const fs::path repo = temp_dir("manifest");
  fs::create_directories(repo / "m" / "1");
  fs::create_directories(repo / "m" / "2");
  onnx::save_model(affine_graph(), (repo / "m" / "1" / "model.onnx").string());
  onnx::save_model(affine_graph(), (repo / "m" / "2" / "model.onnx").string());
  write_file(repo / "m" / "config.pbtxt", "version_policy: { all: {} }\n", 0644);
  const std::string h = sha256_hex(repo / "m" / "1" / "model.onnx");
  write_file(repo / "m" / "SHA256SUMS", h + "  1/model.onnx\n" + h + " *2/model.onnx\n", 0644);
  {
    ModelRepository r(repo.string(), {});
    r.poll();
    EXPECT_EQ(r.versions("m"), (std::vector<int64_t>{1, 2}));
  }
  // Version 2 tampered after the manifest was written: refused naming the file; version 1 serves.
  {
    std::fstream f(repo / "m" / "2" / "model.onnx", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  {
    ModelRepository r(repo.string(), {});
    const std::string e = load_error(r, "m");
    EXPECT_NE(e.find("model file '" + (repo / "m" / "2" / "model.onnx").string() + "' has SHA-256"), std::string::npos) << e;
    EXPECT_NE(e.find("but the manifest '" + (repo / "m" / "SHA256SUMS").string() + "' says " + h), std::string::npos) << e;
    EXPECT_EQ(r.versions("m"), (std::vector<int64_t>{1}));
  }
  // Not listed -> refused; a malformed line names the line.
  write_file(repo / "m" / "SHA256SUMS", h + "  1/model.onnx\n", 0644);
  {
    ModelRepository r(repo.string(), {});
    EXPECT_NE(load_error(r, "m").find("is not listed in the manifest"), std::string::npos);
  }
  write_file(repo / "m" / "SHA256SUMS", h + "  1/model.onnx\nnot-a-digest 2/model.onnx\n", 0644);
  {
    ModelRepository r(repo.string(), {});
    const std::string e = load_error(r, "m");
    EXPECT_NE(e.find("manifest '" + (repo / "m" / "SHA256SUMS").string() + "' line 2"), std::string::npos) << e;
  }
  // --require-manifest: a folder without one is refused.
  fs::remove(repo / "m" / "SHA256SUMS");
  {
    RepositoryOptions o;
    o.require_manifest = true;
    ModelRepository r(repo.string(), o);
    EXPECT_NE(load_error(r, "m").find("has no SHA256SUMS manifest"), std::string::npos);
    EXPECT_TRUE(r.versions("m").empty());
  }
  // Size cap, checked before reading.
  {
    RepositoryOptions o;
    o.max_model_bytes = 100;
    ModelRepository r(repo.string(), o);
    const std::string e = load_error(r, "m");
    EXPECT_NE(e.find("bytes, over the limit of 100 (--max-model-mb)"), std::string::npos) << e;
    EXPECT_NE(e.find("model file '" + repo.string() + "/m/"), std::string::npos) << e;
  }
  fs::remove_all(repo);
}

// Watches directories outside the repository for any open or read (inotify), so the test proves
// that nothing there was opened, not just that the requests failed.
struct OpenWatch {
  int fd = inotify_init1(IN_NONBLOCK);
  void watch(const fs::path& p) { ASSERT_GE(inotify_add_watch(fd, p.c_str(), IN_OPEN | IN_ACCESS), 0) << p; }
  int events() {
    int n = 0;
    alignas(struct inotify_event) char buf[4096];
    for (;;) {
      const ssize_t got = ::read(fd, buf, sizeof buf);
      if (got <= 0) return n;
      for (ssize_t i = 0; i < got;) {
        auto* e = reinterpret_cast<struct inotify_event*>(buf + i);
        ++n;
        i += static_cast<ssize_t>(sizeof(struct inotify_event) + e->len);
      }
    }
  }
  ~OpenWatch() { ::close(fd); }
};

TEST(Repository, NoRequestOpensAPathOutsideTheRepository) {
  const fs::path base = temp_dir("contain");
  const fs::path repo = base / "repo", outside = base / "outside";
  fs::create_directories(repo / "affine" / "1");
  onnx::save_model(affine_graph(), (repo / "affine" / "1" / "model.onnx").string());
  write_file(repo / "affine" / "config.pbtxt", "version_policy: { all: {} }\n", 0644);
  // Outside: a complete model folder, a version folder and a model file, each reachable by a symlink.
  for (const char* d : {"evil/1", "v2", "f"}) fs::create_directories(outside / d);
  for (const char* f : {"evil/1/model.onnx", "v2/model.onnx", "f/model.onnx"})
    onnx::save_model(affine_graph(), (outside / f).string());
  fs::create_directory_symlink(outside / "evil", repo / "evil");
  fs::create_directory_symlink(outside / "v2", repo / "affine" / "2");
  fs::create_directories(repo / "affine" / "3");
  fs::create_symlink(outside / "f" / "model.onnx", repo / "affine" / "3" / "model.onnx");
  // A symlink that stays inside is fine.
  fs::create_directory_symlink(repo / "affine" / "1", repo / "affine" / "4");

  OpenWatch w;
  for (const char* d : {"", "evil", "evil/1", "v2", "f"}) w.watch(outside / d);

  AuthServer s("contain_server", [&](ServerOptions& o) {
    o.auth_tokens_file.clear();
    o.model_repo = repo.string();
  });
  fs::remove_all(s.dir / "repo");  // AuthServer's own repository is unused here
  EXPECT_EQ(s.server->repository().versions("affine"), (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(s.server->repository().versions("evil").empty());
  bool saw_reason = false;
  for (const auto& e : s.server->repository().index())
    if (e.name == "evil") saw_reason = e.reason.find("resolves outside the model repository") != std::string::npos;
  EXPECT_TRUE(saw_reason);

  httplib::Client c("127.0.0.1", s.server->http_port());
  const std::string body = infer_body();
  int requests = 0;
  for (const std::string m : {"evil", "..", ".", "%2e%2e", "..%2Foutside%2Fevil", "%2Ftmp", "..%5Coutside", "evil%00x"}) {
    for (const std::string& path : {"/v2/models/" + m, "/v2/models/" + m + "/versions/1", "/v2/models/" + m + "/config"}) {
      auto r = c.Get(path.c_str());
      ASSERT_TRUE(r) << path;
      EXPECT_TRUE(r->status == 400 || r->status == 404) << path << " -> " << r->status << " " << r->body;
      ++requests;
    }
    auto inf = c.Post(("/v2/models/" + m + "/infer").c_str(), body, "application/json");
    ASSERT_TRUE(inf);
    EXPECT_TRUE(inf->status == 400 || inf->status == 404) << m << " infer -> " << inf->status;
    auto ld = c.Post(("/v2/repository/models/" + m + "/load").c_str(), "", "application/json");
    ASSERT_TRUE(ld);
    EXPECT_TRUE(ld->status == 400 || ld->status == 404) << m << " load -> " << ld->status << " " << ld->body;
    requests += 2;
  }
  for (const std::string v : {"2", "3"}) {
    auto r = c.Post(("/v2/models/affine/versions/" + v + "/infer").c_str(), body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404) << "version " << v << " points outside: " << r->body;
  }
  auto stub = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(s.server->grpc_port()), grpc::InsecureChannelCredentials()));
  for (const std::string& m : std::vector<std::string>{"evil", "../outside/evil", (outside / "evil").string(),
                                                       std::string("evil\0/..", 8), "..\\outside"}) {
    grpc::ClientContext ctx;
    inference::RepositoryModelLoadRequest q;
    q.set_model_name(m);
    inference::RepositoryModelLoadResponse r;
    const grpc::Status st = stub->RepositoryModelLoad(&ctx, q, &r);
    EXPECT_TRUE(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT || st.error_code() == grpc::StatusCode::NOT_FOUND)
        << m << ": " << st.error_message();
    grpc::ClientContext ctx2;
    inference::ModelInferRequest iq = grpc_infer_request();
    iq.set_model_name(m);
    inference::ModelInferResponse ir;
    EXPECT_EQ(stub->ModelInfer(&ctx2, iq, &ir).error_code(), grpc::StatusCode::NOT_FOUND) << m;
    requests += 2;
  }
  EXPECT_GE(requests, 40);
  // A poll after all that, then: not one open or read of anything outside.
  s.server->repository().poll();
  EXPECT_EQ(w.events(), 0) << "a file or folder outside the repository was opened";
  // The watch works: opening a file outside is seen.
  { std::ifstream probe(outside / "f" / "model.onnx"); }
  EXPECT_GT(w.events(), 0);
  fs::remove_all(base);
}

}  // namespace
}  // namespace edgeopt::serve

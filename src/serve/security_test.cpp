// Security tests of `edgeopt serve`: the token file (format, permissions, errors naming file and
// line), bearer-token authentication with the infer/admin roles over HTTP and gRPC (every endpoint
// with no token, a malformed header, an unknown token, an infer token and an admin token), TLS and
// mutual TLS over HTTP and gRPC with a throwaway CA made by the openssl CLI (round trips, a client
// trusting another CA refuses the server, the offload client verifies the cloud's certificate).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
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

}  // namespace
}  // namespace edgeopt::serve

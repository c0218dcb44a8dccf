// The edge node against a local OIP server (cpp-httplib, running the cloud half with our Session):
// answers from the cloud equal the full model; a closed port, a server that sleeps past the
// deadline, an HTTP 500 and a server killed mid-run all end in local answers, within the deadline,
// with no request lost and every fallback counted.
#include <gtest/gtest.h>
#include <httplib.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <thread>

#include "runtime/session.h"
#include "split/edge_node.h"
#include "train/zoo/zoo.h"

namespace edgeopt::split {
namespace {

Tensor random_input(Shape s, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  Tensor t(DType::kF32, s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(r);
  return t;
}

// A minimal v2 server hosting the cloud halves of every cut (fp32 wire) under the EdgeNode's names.
class FakeOipServer {
 public:
  FakeOipServer(const Graph& g, const std::vector<Cut>& cuts, int port = 0) {
    for (const Cut& c : cuts)
      if (!c.all_edge()) halves_.emplace(cloud_model_name("m", c.index, Transport::kF32), split_model(g, c, Transport::kF32));
    srv_.Get("/v2/health/ready", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    srv_.Post(R"(/v2/models/([^/]+)/infer)", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      if (sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms.load()));
      // A slow link: time proportional to the payload.
      if (us_per_byte > 0)
        std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(us_per_byte * req.body.size())));
      if (fail_500) {
        res.status = 500;
        res.set_content("{\"error\":\"injected\"}", "application/json");
        return;
      }
      auto it = halves_.find(req.matches[1]);
      if (it == halves_.end()) {
        res.status = 404;
        return;
      }
      InferRequest in = decode_infer_request(req.body, std::stoul(req.get_header_value("Inference-Header-Content-Length")));
      std::lock_guard<std::mutex> lock(mu_);
      SplitRunner r(it->second);
      auto out = r.run_cloud(in.inputs);
      size_t out_jl = 0;
      std::string resp = encode_infer_response(req.matches[1], out, &out_jl);
      res.set_header("Inference-Header-Content-Length", std::to_string(out_jl));
      res.set_content(resp, "application/octet-stream");
    });
    port_ = port ? (srv_.bind_to_port("127.0.0.1", port) ? port : -1) : srv_.bind_to_any_port("127.0.0.1");
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
    while (port_ > 0 && !srv_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeOipServer() { stop(); }
  void stop() {
    srv_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::atomic<int> sleep_ms{0};
  std::atomic<double> us_per_byte{0};
  std::atomic<bool> fail_500{false};
  std::atomic<int> requests{0};

 private:
  std::map<std::string, SplitHalves> halves_;
  httplib::Server srv_;
  std::thread thread_;
  std::mutex mu_;
  int port_ = -1;
};

// A port that was free a moment ago and now has no listener (bound, never listened, closed).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct Fixture {
  Graph g = prepare_for_partition(train::build_zoo_model("safety_mlp", {.input_shape = {12}, .num_outputs = 3}));
  std::vector<Cut> cuts = enumerate_cuts(g, measure_value_shapes(g, random_input({1, 12}, 1)));
  LayerProfile edge = profile_edge(g, random_input({1, 12}, 1), 3);
  size_t mid = cuts.size() / 2;

  std::unique_ptr<EdgeNode> node(const std::string& url, double deadline_ms, double breaker_ms = 50) {
    EdgeNodeOptions o;
    o.cloud_url = url;
    o.model_prefix = "m";
    o.deadline_ms = deadline_ms;
    o.breaker_ms = breaker_ms;
    return std::make_unique<EdgeNode>(g, cuts, edge, scale_profile(edge, 4), TransportParams{},
                                      SolverOptions{.transports = {Transport::kF32}},
                                      NetworkEstimate{.bandwidth_mbps = 1000, .rtt_ms = 0.2}, o);
  }
  Tensor full(const Tensor& x) {
    runtime::Session s(g);
    return s.run({{g.inputs[0].name, x}}).at(g.outputs[0].name);
  }
};

void expect_close(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_NEAR(a.at(i), b.at(i), 1e-5) << what << " at " << i;
}

TEST(Offload, CloudAnswersEqualTheFullModelAndTeachTheEstimator) {
  Fixture f;
  FakeOipServer srv(f.g, f.cuts);
  auto node = f.node(srv.url(), 2000);
  EXPECT_TRUE(node->probe());
  for (int i = 0; i < 5; ++i) {
    const Tensor x = random_input({1, 12}, 100 + i);
    EdgeAnswer a = node->infer_at({{f.g.inputs[0].name, x}}, f.mid, Transport::kF32);
    EXPECT_TRUE(a.from_cloud) << a.fallback << ": " << a.error;
    EXPECT_TRUE(a.fallback.empty());
    expect_close(a.outputs.at(f.g.outputs[0].name), f.full(x), "cloud answer " + std::to_string(i));
  }
  EXPECT_EQ(srv.requests, 5);
  EXPECT_EQ(node->stats().cloud_answers, 5);
  EXPECT_EQ(node->stats().fallbacks, 0);
  // Tiny payloads on loopback: RTT samples, pulled from the 0.2 ms prior toward what was measured.
  EXPECT_NE(node->network().rtt_ms, 0.2);
}

TEST(Offload, LearnsASlowLinkFromItsOwnTransfersAndReplansToTheEdge) {
  Fixture f;
  FakeOipServer srv(f.g, f.cuts);
  srv.us_per_byte = 200;  // 0.04 Mbit/s for the payload, on top of loopback
  // Synthetic profiles: 10 ms per node on the edge, a 100x cloud, and a 1 Gbit/s prior, so the
  // first plan offloads right after the first node (the raw input is private).
  LayerProfile edge{std::vector<double>(f.g.nodes.size(), 10.0), "synthetic"};
  EdgeNodeOptions o;
  o.cloud_url = srv.url();
  o.model_prefix = "m";
  o.deadline_ms = 1e6;  // no fallback: this test is about the estimate and the plan
  EdgeNode node(f.g, f.cuts, edge, scale_profile(edge, 100), TransportParams{}, SolverOptions{.transports = {Transport::kF32}},
                NetworkEstimate{.bandwidth_mbps = 1000, .rtt_ms = 0.1}, o);
  EXPECT_EQ(node.plan().best().cut, 1u);
  for (int i = 0; i < 12; ++i) {
    const Tensor x = random_input({1, 12}, 600 + i);
    EdgeAnswer a = node.infer({{f.g.inputs[0].name, x}});
    expect_close(a.outputs.at(f.g.outputs[0].name), f.full(x), "adaptive request " + std::to_string(i));
  }
  // Tiny payloads: the slow link shows up as RTT samples, which is enough to make offloading lose.
  EXPECT_GT(node.network().rtt_ms, 1.0);
  EXPECT_GT(node.stats().replans, 0);
  EXPECT_GT(node.stats().cloud_answers, 0);
  EXPECT_GT(node.plan().best().cut, 1u) << "still offloading after learning a slow link";
}

TEST(Offload, ClosedPortFallsBackLocallyWithNoRequestLost) {
  Fixture f;
  const int port = closed_port();
  auto node = f.node("http://127.0.0.1:" + std::to_string(port), 1000);
  EXPECT_FALSE(node->probe());
  for (int i = 0; i < 6; ++i) {
    const Tensor x = random_input({1, 12}, 200 + i);
    EdgeAnswer a = node->infer_at({{f.g.inputs[0].name, x}}, f.mid, Transport::kF32);
    EXPECT_FALSE(a.from_cloud);
    EXPECT_TRUE(a.met_deadline) << a.total_ms;
    expect_close(a.outputs.at(f.g.outputs[0].name), f.full(x), "fallback " + std::to_string(i));
  }
  const auto& s = node->stats();
  EXPECT_EQ(s.requests, 6);
  EXPECT_EQ(s.local_answers, 6);
  EXPECT_EQ(s.fallbacks, 6);
  EXPECT_EQ(s.fallback_reasons.at("unavailable"), 1);  // then the breaker keeps requests local
  EXPECT_EQ(s.fallback_reasons.at("circuit_open"), 5);
}

TEST(Offload, SlowServerMissesItsBudgetAndTheEdgeAnswersWithinTheDeadline) {
  Fixture f;
  FakeOipServer srv(f.g, f.cuts);
  srv.sleep_ms = 600;
  auto node = f.node(srv.url(), 250, /*breaker_ms=*/0.001);
  int64_t late = 0;
  for (int i = 0; i < 3; ++i) {
    const Tensor x = random_input({1, 12}, 300 + i);
    EdgeAnswer a = node->infer_at({{f.g.inputs[0].name, x}}, f.mid, Transport::kF32);
    EXPECT_FALSE(a.from_cloud);
    EXPECT_EQ(a.fallback, "deadline");
    // On a quiet machine it answers inside the deadline (5% margin); a CPU-starved one (load 12 on
    // 2 cores in CI-like runs) wakes the timed-out socket wait tens of ms late. What must hold is
    // that it gave up on the 600 ms cloud near the 250 ms deadline and counted any overshoot.
    EXPECT_LT(a.total_ms, 250 + 150) << "answered after " << a.total_ms << " ms, deadline 250 ms, cloud 600 ms";
    late += !a.met_deadline;
    EXPECT_GE(a.cloud_call_ms, 150);  // it really waited for the cloud, then gave up in time
    expect_close(a.outputs.at(f.g.outputs[0].name), f.full(x), "deadline fallback");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(node->stats().fallback_reasons.at("deadline"), 3);
  EXPECT_EQ(node->stats().deadline_misses, late);
  srv.sleep_ms = 0;
  srv.stop();
}

TEST(Offload, HttpErrorFallsBack) {
  Fixture f;
  FakeOipServer srv(f.g, f.cuts);
  srv.fail_500 = true;
  auto node = f.node(srv.url(), 1000);
  const Tensor x = random_input({1, 12}, 400);
  EdgeAnswer a = node->infer_at({{f.g.inputs[0].name, x}}, f.mid, Transport::kF32);
  EXPECT_EQ(a.fallback, "http_error");
  expect_close(a.outputs.at(f.g.outputs[0].name), f.full(x), "http 500 fallback");
}

TEST(Offload, ServerKilledMidRunThenBackLosesNothing) {
  Fixture f;
  auto srv = std::make_unique<FakeOipServer>(f.g, f.cuts);
  const int port = srv->port();
  auto node = f.node(srv->url(), 1000, /*breaker_ms=*/20);
  int answered = 0, cloud = 0;
  auto one = [&](int i) {
    const Tensor x = random_input({1, 12}, 500 + i);
    EdgeAnswer a = node->infer_at({{f.g.inputs[0].name, x}}, f.mid, Transport::kF32);
    expect_close(a.outputs.at(f.g.outputs[0].name), f.full(x), "request " + std::to_string(i));
    answered += !a.outputs.empty();
    cloud += a.from_cloud;
  };
  for (int i = 0; i < 5; ++i) one(i);
  srv.reset();  // killed
  for (int i = 5; i < 10; ++i) one(i);
  EXPECT_EQ(cloud, 5);
  srv = std::make_unique<FakeOipServer>(f.g, f.cuts, port);  // back on the same port
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // past the breaker's longest backoff
  for (int i = 10; i < 15; ++i) one(i);
  EXPECT_EQ(answered, 15);
  EXPECT_GE(cloud, 9);  // the breaker closed again on the first retry
  EXPECT_EQ(node->stats().requests, 15);
  EXPECT_GE(node->stats().fallbacks, 5);
}

TEST(Offload, BearerTokenFileGivesItsFirstLineOrAClearError) {
  const std::string dir = ::testing::TempDir();
  const std::string good = dir + "/edgeopt_token_good", empty = dir + "/edgeopt_token_empty";
  { std::ofstream(good) << "s3cret-token \t\nsecond line ignored\n"; }
  { std::ofstream(empty) << "\nnext\n"; }
  EXPECT_EQ(read_bearer_token_file(good), "s3cret-token");
  try {
    read_bearer_token_file(empty, "--cloud-token-file");
    ADD_FAILURE() << "an empty first line must be an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("first line is empty"), std::string::npos) << e.what();
  }
  try {
    read_bearer_token_file(dir + "/edgeopt_no_such_token");
    ADD_FAILURE() << "a missing file must be an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("--cloud-token-file"), std::string::npos) << e.what();
  }
  std::remove(good.c_str());
  std::remove(empty.c_str());
}

}  // namespace
}  // namespace edgeopt::split

// A model served through an edge-cloud split by `edgeopt serve` (serve::SplitBackend), against a real
// cloud: a second in-process serve::Server serving the cloud halves `partition --repo` writes.
// Answers equal the whole model; /metrics (promtool), /v2/monitor and the dashboard (headless
// Chromium) show the cut, the paths and the bytes; when the cloud is stopped every request is still
// answered and the controller's resplit moves the cut to all-edge (logged, verified), and back
// when the cloud returns. Everything polls with deadlines: no fixed sleep decides an assertion.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include <nlohmann/json.hpp>

#include "control/controller.h"
#include "onnx/export.h"
#include "runtime/session.h"
#include "serve/monitor_json.h"
#include "split/partitioner.h"
#include "train/zoo/zoo.h"

namespace edgeopt::control {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

Tensor image(uint64_t seed) {
  std::mt19937_64 r(seed);
  std::uniform_real_distribution<float> d(0.f, 1.f);
  Tensor t(DType::kF32, Shape({1, 1, 28, 28}));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(r);
  return t;
}

// Polls `cond` every 50 ms until it holds or `seconds` pass (a loaded machine may be slow; a
// fixed sleep would make the assertion a race).
template <class F>
bool eventually(double seconds, F cond) {
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

serve::ServerOptions server_options(const fs::path& repo, int port) {
  serve::ServerOptions o;
  o.model_repo = repo.string();
  o.host = "127.0.0.1";
  o.http_port = port;
  o.grpc_port = -1;
  o.poll_s = 0;
  o.threads = 2;
  return o;
}

// Edge node + cloud: a vision_cnn (width 8) split at the plan's cut. The plan's edge profile is the
// one measured here x kEdgeSlowdown: an emulated edge board that slow, so offloading pays even
// though both run on this host (the prediction is what picks the cut; the node's measured speed
// only ever adds a slowdown, see SplitBackend::propose).
struct SplitNode {
  static constexpr double kEdgeSlowdown = 300;
  fs::path dir;
  Graph model;
  std::string input, output;
  split::Partition part;
  std::unique_ptr<serve::Server> cloud, edge;
  std::unique_ptr<Controller> ctl;
  int cloud_port = 0;

  explicit SplitNode(const std::string& tag, Policy policy = {}) {
    dir = fs::temp_directory_path() / ("edgeopt_split_serve_" + tag + "_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    model = train::build_zoo_model("vision_cnn", {.input_shape = {1, 28, 28}, .num_outputs = 10, .width = 8});
    input = model.inputs[0].name;
    output = model.outputs[0].name;
    fs::create_directories(dir / "edge" / "cnn" / "1");
    onnx::save_model(model, (dir / "edge" / "cnn" / "1" / "model.onnx").string());
    std::ofstream(dir / "edge" / "cnn" / "config.pbtxt") << "version_policy: { all {} }\n";
    split::PartitionOptions o;
    o.cloud = "speedup:10";
    o.network = {.bandwidth_mbps = 1000, .rtt_ms = 0.5};
    o.model_prefix = "cnn";
    o.profile_runs = 3;
    o.transports = {split::Transport::kF32, split::Transport::kF16};
    part = split::partition_model(model, image(1), nullptr, o);
    for (double& ms : part.edge.node_ms) ms *= kEdgeSlowdown;
    std::ofstream(dir / "plan.json") << split::plan_to_json(part, o).dump();
    // Each cut's cheapest wire does not depend on the edge profile, so the halves written for the
    // measured plan are the ones the emulated-slow-edge plan uses.
    split::write_cloud_repository(part, o, (dir / "cloud").string(), /*all_transports=*/false);
    start_cloud(0);
    serve::ServerOptions eo = server_options(dir / "edge", 0);
    serve::SplitSpec spec;
    spec.cloud_url = "http://127.0.0.1:" + std::to_string(cloud_port);
    spec.plan_path = (dir / "plan.json").string();
    spec.deadline_ms = 5000;  // generous: a loaded CI machine must not turn cloud answers into fallbacks
    spec.breaker_ms = 100;
    eo.split["cnn"] = spec;
    edge = std::make_unique<serve::Server>(eo);
    if (!policy.model.empty()) {
      policy.tick_s = 1000;  // the test ticks by hand
      ctl = std::make_unique<Controller>(*edge, policy);
    }
    edge->start();
    if (ctl) ctl->start();
  }
  ~SplitNode() {
    if (ctl) ctl->stop();
    edge->stop();
    ctl.reset();
    edge.reset();
    if (cloud) cloud->stop();
    cloud.reset();
    fs::remove_all(dir);
  }
  void start_cloud(int port) {
    serve::ServerOptions co = server_options(dir / "cloud", port);
    co.threads = 1;
    cloud = std::make_unique<serve::Server>(co);
    cloud->start();
    cloud_port = cloud->http_port();
  }
  void stop_cloud() {
    cloud->stop();
    cloud.reset();
  }
  std::shared_ptr<serve::SplitBackend> backend() const { return edge->repository().get("cnn", "")->split(); }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", edge->http_port());
    c.set_read_timeout(30);
    return c;
  }
  // One request over HTTP (JSON); the first output's values, or empty on failure.
  std::vector<float> infer(httplib::Client& c, const Tensor& x) const {
    std::vector<float> data(x.data<float>(), x.data<float>() + x.numel());
    json body = {{"inputs", {{{"name", input}, {"datatype", "FP32"}, {"shape", {1, 1, 28, 28}}, {"data", data}}}}};
    auto r = c.Post("/v2/models/cnn/infer", body.dump(), "application/json");
    if (!r || r->status != 200) return {};
    return json::parse(r->body)["outputs"][0]["data"].get<std::vector<float>>();
  }
  std::string metrics() const { return client().Get("/metrics")->body; }
};

// Background clients that keep sending requests through every change of the cut.
struct Load {
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, answered{0};
  std::vector<std::thread> threads;
  Load(const SplitNode& node, int n) {
    for (int t = 0; t < n; ++t)
      threads.emplace_back([&, t] {
        auto c = node.client();
        const Tensor x = image(100 + static_cast<uint64_t>(t));
        while (!stop) {
          if (node.infer(c, x).empty())
            ++failures;
          else
            ++answered;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      });
  }
  ~Load() { finish(); }
  void finish() {
    stop = true;
    for (auto& t : threads)
      if (t.joinable()) t.join();
  }
};

int64_t count(const std::map<std::string, int64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}

double metric(const std::string& text, const std::string& prefix) {
  for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1))
    if (at == 0 || text[at - 1] == '\n') return std::stod(text.substr(text.find(' ', at + prefix.size()) + 1));
  return -1;
}

void expect_promtool_accepts(const std::string& text) {
  ASSERT_EQ(std::system("command -v promtool > /dev/null 2>&1"), 0)
      << "promtool not found (scripts/install-deps.sh installs Debian's prometheus)";
  const fs::path path = fs::temp_directory_path() / ("edgeopt_split_metrics_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path) << text;
  const std::string cmd = "promtool check metrics < " + path.string() + " > " + path.string() + ".out 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(path.string() + ".out");
  const std::string msg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << "promtool check metrics: " << msg;
  fs::remove(path);
  fs::remove(path.string() + ".out");
}

TEST(SplitPolicy, ParsesResplitKeys) {
  Policy p = parse_policy("model: m\nactions: {resplit: false}\nsplit: {fallback_fraction: 0.3, restore_after_s: 4}\n", "p.yaml");
  EXPECT_FALSE(p.allow_resplit);
  EXPECT_DOUBLE_EQ(p.split_fallback_fraction, 0.3);
  EXPECT_DOUBLE_EQ(p.split_restore_after_s, 4);
  EXPECT_TRUE(parse_policy("model: m\n", "p.yaml").allow_resplit);
  try {
    parse_policy("model: m\nsplit: {fallback_fraction: 2}\n", "bad.yaml");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'split.fallback_fraction' must be <= 1"), std::string::npos) << e.what();
  }
}

TEST(SplitFlag, ParsesModelUrlAndPlanAndNamesWhatIsMissing) {
  auto [m, s] = serve::parse_split_flag("cnn=http://10.0.0.2:8000,split/plan.json");
  EXPECT_EQ(m, "cnn");
  EXPECT_EQ(s.cloud_url, "http://10.0.0.2:8000");
  EXPECT_EQ(s.plan_path, "split/plan.json");
  for (const char* bad : {"cnn", "=http://x,p", "cnn=http://x", "cnn=http://x,"}) {
    try {
      serve::parse_split_flag(bad);
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("MODEL=CLOUD_URL,PLAN"), std::string::npos) << e.what();
    }
  }
}

TEST(SplitServe, APlanForAnotherModelFailsTheLoadNamingThePlan) {
  const fs::path dir = fs::temp_directory_path() / ("edgeopt_split_bad_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "repo" / "mlp" / "1");
  Graph mlp = train::build_zoo_model("safety_mlp", {.input_shape = {12}, .num_outputs = 3});
  onnx::save_model(mlp, (dir / "repo" / "mlp" / "1" / "model.onnx").string());
  Graph cnn = train::build_zoo_model("vision_cnn", {.input_shape = {1, 28, 28}, .num_outputs = 10, .width = 4});
  split::PartitionOptions o;
  o.profile_runs = 1;
  const split::Partition p = split::partition_model(cnn, image(2), nullptr, o);
  std::ofstream(dir / "plan.json") << split::plan_to_json(p, o).dump();
  serve::ServerOptions so = server_options(dir / "repo", 0);
  so.split["mlp"] = {.cloud_url = "http://127.0.0.1:9", .plan_path = (dir / "plan.json").string()};
  serve::Server s(so);
  s.start();
  const auto idx = s.repository().index();
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx[0].state, "UNAVAILABLE");
  EXPECT_NE(idx[0].reason.find("plan.json"), std::string::npos) << idx[0].reason;
  EXPECT_NE(idx[0].reason.find("another model"), std::string::npos) << idx[0].reason;
  s.stop();
  fs::remove_all(dir);
}

TEST(SplitServe, AnswersEqualTheWholeModelAndMetricsShowCutPathsAndBytes) {
  SplitNode node("equal");
  auto sb = node.backend();
  ASSERT_TRUE(sb);
  const auto active = sb->active();
  ASSERT_NE(active.cut, sb->all_edge_cut()) << "the emulated slow edge must make the plan offload";
  ASSERT_NE(active.cut, 0u) << "the raw input stays on the edge (privacy default)";
  EXPECT_EQ(active.placement, "split");
  runtime::Session whole(node.model);
  auto c = node.client();
  const int n = 12;
  for (int i = 0; i < n; ++i) {
    const Tensor x = image(10 + static_cast<uint64_t>(i));
    const std::vector<float> got = node.infer(c, x);
    const Tensor want = whole.run({{node.input, x}}).at(node.output);
    ASSERT_EQ(got.size(), static_cast<size_t>(want.numel()));
    for (int64_t k = 0; k < want.numel(); ++k)
      ASSERT_NEAR(got[static_cast<size_t>(k)], want.data<float>()[k], 1e-4 + 1e-4 * std::abs(want.data<float>()[k]))
          << "request " << i << " output " << k;
  }
  const auto counters = sb->counters();
  EXPECT_EQ(counters.answers.at("split"), n) << "every answer came from the cloud";
  EXPECT_EQ(counters.answers.count("fallback"), 0u);
  // Bytes: the wire tensors of every request went up, the logits came back.
  const int64_t up = node.part.cuts[active.cut].upload_bytes(active.transport);
  EXPECT_GE(counters.bytes_sent, n * up);
  EXPECT_GT(counters.bytes_received, n * 10 * 4);

  const std::string m = node.metrics();
  const std::string labels = "model=\"cnn\",version=\"1\"";
  EXPECT_EQ(metric(m, "edgeopt_split_cut{" + labels + ",after_node=\"" + active.after_node + "\",transport=\"" +
                          split::transport_name(active.transport) + "\",placement=\"split\"}"),
            static_cast<double>(active.cut))
      << m;
  EXPECT_EQ(metric(m, "edgeopt_split_all_edge_cut{" + labels + "}"), static_cast<double>(sb->all_edge_cut()));
  EXPECT_EQ(metric(m, "edgeopt_split_requests_total{" + labels + ",path=\"split\"}"), n);
  EXPECT_EQ(metric(m, "edgeopt_split_offload_sent_bytes_total{" + labels + "}"), static_cast<double>(counters.bytes_sent));
  EXPECT_EQ(metric(m, "edgeopt_split_offload_received_bytes_total{" + labels + "}"), static_cast<double>(counters.bytes_received));
  EXPECT_EQ(metric(m, "edgeopt_split_replans_total{" + labels + ",reason=\"plan\"}"), 1);
  EXPECT_GT(metric(m, "edgeopt_split_rtt_seconds{" + labels + "}"), 0);
  expect_promtool_accepts(m);
  // The cloud really ran the cloud half: its own metrics count the requests for that cut's model.
  const std::string cloud_model = split::cloud_model_name("cnn", active.cut, active.transport);
  httplib::Client cc("127.0.0.1", node.cloud_port);
  EXPECT_EQ(metric(cc.Get("/metrics")->body, "edgeopt_requests_total{model=\"" + cloud_model + "\",version=\"1\"}"), n);

  const json mon = serve::monitor_snapshot(*node.edge);
  const json& v = mon["models"][0]["versions"][0];
  ASSERT_TRUE(v["split"].is_object()) << mon.dump(2);
  EXPECT_EQ(v["split"]["cut"], active.cut);
  EXPECT_EQ(v["split"]["placement"], "split");
  EXPECT_EQ(v["split"]["answers"]["split"], n);
  EXPECT_EQ(v["split"]["bytes_sent"], counters.bytes_sent);
}

TEST(SplitServe, CloudStoppedNoRequestFailsControllerMovesToAllEdgeAndBack) {
  Policy p;
  p.model = "cnn";
  p.breach_ticks = 2;
  p.cooldown_s = 0;
  p.latency_window_s = 1;
  p.latency_min_samples = 5;
  p.split_restore_after_s = 1;
  p.allow_switch = p.allow_recalibrate = p.allow_finetune = false;
  SplitNode node("failover", p);
  auto sb = node.backend();
  const size_t planned = sb->active().cut;
  const size_t all_edge = sb->all_edge_cut();
  ASSERT_NE(planned, all_edge);
  Load load(node, 2);
  ASSERT_TRUE(eventually(60, [&] { return count(sb->counters().answers, "split") >= 10; }))
      << "the cloud answers while it is up";
  node.ctl->tick();
  EXPECT_EQ(sb->active().cut, planned) << "a healthy cloud: no re-plan";

  node.stop_cloud();
  auto last = [&] { return node.ctl->log_entries().back(); };
  // Fallbacks fill the window; the controller re-plans to all-edge within breach_ticks ticks.
  ASSERT_TRUE(eventually(60, [&] {
    node.ctl->tick();
    return sb->active().cut == all_edge;
  })) << node.ctl->status().dump(2);
  LogEntry moved = last();
  EXPECT_EQ(moved.action, "resplit");
  EXPECT_EQ(moved.result, "deployed");
  EXPECT_EQ(moved.from, static_cast<int64_t>(planned));
  EXPECT_EQ(moved.to, static_cast<int64_t>(all_edge));
  EXPECT_NE(moved.reason.find("cloud unreachable"), std::string::npos) << moved.reason;
  EXPECT_EQ(sb->active().reason, "cloud_unreachable");
  EXPECT_GT(count(sb->counters().answers, "fallback"), 0);
  // Verified once the window after the move has enough answers: no fallbacks any more.
  ASSERT_TRUE(eventually(60, [&] {
    node.ctl->tick();
    return last().action == "verify";
  })) << node.ctl->status().dump(2);
  EXPECT_EQ(last().result, "kept");
  EXPECT_EQ(sb->active().cut, all_edge);
  const int64_t edge_only = count(sb->counters().answers, "edge_only");
  EXPECT_TRUE(eventually(30, [&] { return count(sb->counters().answers, "edge_only") > edge_only; }));
  std::string m = node.metrics();
  EXPECT_EQ(metric(m, "edgeopt_split_replans_total{model=\"cnn\",version=\"1\",reason=\"cloud_unreachable\"}"), 1) << m;
  EXPECT_EQ(metric(m, "edgeopt_controller_actions_total{model=\"cnn\",action=\"resplit\",result=\"deployed\"}"), 1) << m;
  EXPECT_GT(metric(m, "edgeopt_split_fallbacks_total{model=\"cnn\",version=\"1\",reason=\"circuit_open\"}") +
                std::max(0.0, metric(m, "edgeopt_split_cloud_errors_total{model=\"cnn\",version=\"1\",status=\"unavailable\"}")),
            0)
      << m;
  EXPECT_GT(metric(m, "edgeopt_split_probes_total{model=\"cnn\",version=\"1\"}"), 0) << "probing the cloud while it is down";
  expect_promtool_accepts(m);

  // The cloud comes back on the same port: probes succeed, the solver prefers offloading again.
  node.start_cloud(node.cloud_port);
  ASSERT_TRUE(eventually(60, [&] {
    node.ctl->tick();
    return sb->active().cut != all_edge;
  })) << node.ctl->status().dump(2);
  EXPECT_EQ(last().action, "resplit");
  EXPECT_EQ(last().to, static_cast<int64_t>(sb->active().cut));
  EXPECT_NE(last().reason.find("cloud healthy again"), std::string::npos) << last().reason;
  EXPECT_EQ(sb->active().reason, "cloud_recovered");
  const int64_t split_before = count(sb->counters().answers, "split");
  EXPECT_TRUE(eventually(30, [&] { return count(sb->counters().answers, "split") > split_before + 5; }))
      << "answers come from the cloud again";
  ASSERT_TRUE(eventually(60, [&] {
    node.ctl->tick();
    return last().action == "verify" || last().action == "rollback";
  })) << node.ctl->status().dump(2);
  EXPECT_EQ(last().action, "verify") << last().reason;
  load.finish();
  EXPECT_EQ(load.failures, 0) << "every request answered through the stop, both moves and the restart";
  EXPECT_GT(load.answered, 40);
  EXPECT_EQ(node.edge->repository().get("cnn", "")->stats().failed, 0u);
}

TEST(SplitServe, DashboardShowsTheSplitLiveInChromium) {
  ASSERT_EQ(std::system("command -v chromium > /dev/null 2>&1"), 0)
      << "needs Debian's chromium (scripts/install-deps.sh installs it)";
  SplitNode node("dashboard");
  auto c = node.client();
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(node.infer(c, image(static_cast<uint64_t>(i))).empty());
  const auto active = node.backend()->active();
  auto render = [&](const std::string& profile) {
    const fs::path out = node.dir / (profile + ".html");
    const std::string cmd = "chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions "
                            "--disable-background-networking --user-data-dir=" + (node.dir / profile).string() +
                            " --virtual-time-budget=4000 --dump-dom http://127.0.0.1:" + std::to_string(node.edge->http_port()) +
                            "/dashboard > " + out.string() + " 2>/dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    std::ifstream in(out);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  auto cell = [](const std::string& dom, const std::string& metric_name) {
    std::smatch m;
    const std::regex re("data-metric=\"" + metric_name + "\">([^<]*)<");
    return std::regex_search(dom, m, re) ? m[1].str() : std::string("(missing)");
  };
  std::string dom = render("p1");
  EXPECT_EQ(cell(dom, "split_cut"), std::to_string(active.cut) + " / " + std::to_string(node.backend()->all_edge_cut())) << dom;
  EXPECT_EQ(cell(dom, "split_placement"), "split");
  EXPECT_EQ(cell(dom, "split_answers_split"), "5");
  EXPECT_EQ(cell(dom, "split_answers_fallback"), "0");
  EXPECT_NE(cell(dom, "split_kb_sent"), "0.0");
  EXPECT_NE(dom.find("serving cut"), std::string::npos) << "the cut chart";
  // Live: more traffic, and the page follows.
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(node.infer(c, image(static_cast<uint64_t>(50 + i))).empty());
  dom = render("p2");
  EXPECT_EQ(cell(dom, "split_answers_split"), "9");
}

}  // namespace
}  // namespace edgeopt::control

// Cut enumeration, privacy, split export (edge half then cloud half == full model), the solver on
// synthetic profiles, the EWMA estimator and the OIP request/response codec.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "onnx/export.h"
#include "runtime/session.h"
#include "split/cut_analysis.h"
#include "split/oip_client.h"
#include "split/solver.h"
#include "split/split_export.h"
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

Graph vision_cnn() {
  return prepare_for_partition(train::build_zoo_model("vision_cnn", {.input_shape = {1, 16, 16}, .num_outputs = 10}));
}
Graph mlp() {
  return prepare_for_partition(train::build_zoo_model("safety_mlp", {.input_shape = {12}, .num_outputs = 3}));
}

// A -> B -> {C, D} -> Add: a branch, so some cuts carry two tensors.
Graph diamond() {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape{-1, 4}, {"N", ""}});
  g.initializers["w"] = random_input({4, 4}, 3);
  g.add_node("MatMul", {"x", "w"}, {"a"}, "A");
  g.add_node("Relu", {"a"}, {"b"}, "B");
  g.add_node("Sigmoid", {"b"}, {"c"}, "C");
  g.add_node("Tanh", {"b"}, {"d"}, "D");
  g.add_node("Add", {"c", "d"}, {"y"}, "E");
  g.outputs.push_back({"y", DType::kF32, Shape{-1, 4}, {"N", ""}});
  return prepare_for_partition(g);
}

TEST(CutAnalysis, EnumeratesPrefixesWithCrossingTensorsAndBytes) {
  Graph g = diamond();
  const auto cuts = enumerate_cuts(g, measure_value_shapes(g, random_input({1, 4}, 1)), {.allow_raw_inputs = true});
  ASSERT_EQ(cuts.size(), 6u);
  ASSERT_EQ(cuts[0].crossing.size(), 1u);
  EXPECT_EQ(cuts[0].crossing[0].name, "x");
  EXPECT_TRUE(cuts[0].crossing[0].graph_input);
  EXPECT_TRUE(cuts[0].crossing[0].batched);
  EXPECT_EQ(cuts[0].upload_bytes(Transport::kF32), 16);
  EXPECT_EQ(cuts[0].upload_bytes(Transport::kF16), 8);
  EXPECT_EQ(cuts[0].upload_bytes(Transport::kInt8), 4);
  EXPECT_EQ(cuts[0].download_bytes(), 16);
  // After A, B, C: the cloud still needs b (for D) and c (for E).
  size_t k = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name == "C" || g.nodes[i].name == "D") k = std::max(k, i);
  // The cut just before the second of C/D carries b and the first one's output.
  ASSERT_EQ(cuts[k].crossing.size(), 2u);
  EXPECT_EQ(cuts[k].upload_bytes(Transport::kF32), 32);
  EXPECT_TRUE(cuts.back().all_edge());
  EXPECT_EQ(cuts.back().upload_bytes(Transport::kF32), 0);
  for (const auto& c : cuts) EXPECT_TRUE(c.allowed) << c.index;
}

TEST(CutAnalysis, PrivacyForbidsRawInputsAndEverythingBeforeAPrivateLayer) {
  Graph g = diamond();
  const ValueShapes s = measure_value_shapes(g, random_input({1, 4}, 1));
  auto cuts = enumerate_cuts(g, s, {});
  EXPECT_FALSE(cuts[0].allowed);
  EXPECT_NE(cuts[0].reason.find("raw input 'x'"), std::string::npos) << cuts[0].reason;
  EXPECT_TRUE(cuts[1].allowed);
  cuts = enumerate_cuts(g, s, {.allow_raw_inputs = true, .private_layers = {"B"}});
  EXPECT_FALSE(cuts[0].allowed);  // x feeds B
  EXPECT_FALSE(cuts[1].allowed);  // B would run in the cloud
  EXPECT_NE(cuts[1].reason.find("private layer 'B' would run in the cloud"), std::string::npos) << cuts[1].reason;
  // b is read by C and D: only once both ran on the edge may anything leave.
  for (size_t k = 2; k < cuts.size(); ++k) {
    bool sends_b = false;
    for (const auto& t : cuts[k].crossing) sends_b |= t.name == "b";
    EXPECT_EQ(cuts[k].allowed, !sends_b) << "cut " << k << ": " << cuts[k].reason;
  }
  EXPECT_TRUE(cuts.back().allowed);
  try {
    enumerate_cuts(g, s, {.private_layers = {"nope"}});
    FAIL() << "expected NotFound";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("'nope'"), std::string::npos);
  }
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i) - b.at(i)));
  return m;
}
double max_abs(const Tensor& a) {
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(a.at(i)));
  return m;
}

void check_every_cut(const Graph& g, Shape in_shape) {
  Shape one = in_shape;
  one.dims()[0] = 1;
  const ValueShapes s = measure_value_shapes(g, random_input(one, 7));
  const auto cuts = enumerate_cuts(g, s, {.allow_raw_inputs = true});
  const Tensor calib = random_input([&] { Shape c = in_shape; c.dims()[0] = 64; return c; }(), 11);
  const TransportParams q = calibrate_transport(g, calib);
  const Tensor x = random_input(in_shape, 5);
  runtime::Session full(g);
  const Tensor want = full.run({{g.inputs[0].name, x}}).at(g.outputs[0].name);
  const double range = max_abs(want);
  for (Transport t : {Transport::kF32, Transport::kF16, Transport::kInt8})
    for (const Cut& c : cuts) {
      SplitHalves h = split_model(g, c, t, q);
      // Each half must also be a graph the ONNX-side checks would accept: the cloud half's inputs
      // are exactly the wire tensors.
      ASSERT_EQ(h.cloud.inputs.size(), c.crossing.size());
      // Both halves are plain ONNX: the exporter runs onnx::checker and shape inference on them.
      EXPECT_NO_THROW(onnx::save_model_to_bytes(h.edge)) << "cut " << c.index << " " << transport_name(t);
      if (!h.all_edge()) {
        EXPECT_NO_THROW(onnx::save_model_to_bytes(h.cloud)) << "cut " << c.index << " " << transport_name(t);
      }
      SplitRunner r(h);
      const Tensor got = r.run({{g.inputs[0].name, x}}).at(g.outputs[0].name);
      const double tol = t == Transport::kF32 ? 1e-4 * (1 + range) : t == Transport::kF16 ? 1e-2 * (1 + range) : 0.08 * range + 1e-3;
      EXPECT_LE(max_abs_diff(got, want), tol) << "cut " << c.index << " after '" << c.after_node << "' transport "
                                              << transport_name(t) << " batch " << in_shape[0];
    }
}

TEST(SplitExport, EdgeThenCloudEqualsFullModelVisionCnn) { check_every_cut(vision_cnn(), {2, 1, 16, 16}); }
TEST(SplitExport, EdgeThenCloudEqualsFullModelMlp) { check_every_cut(mlp(), {3, 12}); }

TEST(SplitExport, Int8WireIsU8AndNeedsCalibration) {
  Graph g = mlp();
  const auto cuts = enumerate_cuts(g, measure_value_shapes(g, random_input({1, 12}, 1)), {.allow_raw_inputs = true});
  const Cut& mid = cuts[cuts.size() / 2];
  EXPECT_THROW(split_model(g, mid, Transport::kInt8, {}), Error);
  const TransportParams q = calibrate_transport(g, random_input({32, 12}, 2));
  SplitHalves h = split_model(g, mid, Transport::kInt8, q);
  ASSERT_FALSE(h.wire.empty());
  EXPECT_EQ(h.wire[0].wire_dtype, DType::kU8);
  EXPECT_EQ(h.cloud.nodes.front().op_type, "DequantizeLinear");
  EXPECT_EQ(h.edge.nodes.back().op_type, "QuantizeLinear");
  EXPECT_EQ(h.cloud.inputs[0].dim_params[0], "N");
  SplitHalves f = split_model(g, mid, Transport::kF16, q);
  EXPECT_EQ(f.wire[0].wire_dtype, DType::kF16);
  EXPECT_EQ(f.cloud.nodes.front().op_type, "Cast");
}

// Synthetic profiles: 4 nodes of 10 ms each on the edge, a 10x faster cloud, and cut sizes that
// shrink along the network (1000, 100, 10, 1000 bytes) so the best cut moves with bandwidth.
struct Synthetic {
  std::vector<Cut> cuts;
  LayerProfile edge, cloud;
  Synthetic() {
    const int64_t numel[] = {1000, 100, 10, 1000};
    for (size_t k = 0; k <= 4; ++k) {
      Cut c;
      c.index = k;
      if (k < 4) {
        c.crossing.push_back({"t" + std::to_string(k), DType::kF32, Shape{numel[k]}, numel[k], k == 0, true});
        c.cloud_outputs = {"y"};
        c.return_numel = 1;
      }
      cuts.push_back(c);
    }
    edge.node_ms = {10, 10, 10, 10};
    cloud = scale_profile(edge, 10);
  }
};

TEST(Solver, PicksTheMinimumPredictedLatencyAndMovesWithBandwidth) {
  Synthetic s;
  const SolverOptions f32{.transports = {Transport::kF32}};
  // Very fast network: send the raw input, the cloud does everything (4 ms + tiny transfer).
  Plan p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = 1}, f32);
  EXPECT_EQ(p.best().cut, 0u);
  EXPECT_NEAR(p.best().total_ms, 4 + 1 + transfer_ms(4004, 10000), 1e-9);
  // 1 Mbit/s: cut 1 (400 B up, 3.2 ms) beats cut 2 (10 ms more edge compute).
  p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 1, .rtt_ms = 1}, f32);
  EXPECT_EQ(p.best().cut, 1u);
  EXPECT_NEAR(p.best().total_ms, 10 + 1 + 3 + transfer_ms(404, 1), 1e-9);
  // 0.1 Mbit/s: 400 B now cost 32 ms, so cut 2 (40 B) wins.
  p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 0.1, .rtt_ms = 1}, f32);
  EXPECT_EQ(p.best().cut, 2u);
  // Huge RTT: stay on the edge.
  p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 1000, .rtt_ms = 100}, f32);
  EXPECT_EQ(p.best().cut, 4u);
  EXPECT_DOUBLE_EQ(p.best().total_ms, 40);
  // With no offload margin the chosen prediction is the minimum over allowed cuts.
  SolverOptions no_margin;
  no_margin.min_offload_gain = 0;
  p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 3, .rtt_ms = 2}, no_margin);
  for (const auto& c : p.cuts) EXPECT_GE(c.total_ms, p.best().total_ms);
}

TEST(Solver, NearTiesStayOnTheEdge) {
  Synthetic s;
  SolverOptions o{.transports = {Transport::kF32}};
  // RTT chosen so all-cloud predicts 4 + rtt + transfer = 39 ms against all-edge's 40 ms: 2.5%
  // better, inside the default 5% margin, so the node keeps the request local.
  const double rtt = 35 - transfer_ms(4004, 10000);
  Plan p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = rtt}, o);
  EXPECT_NEAR(p.cuts[0].total_ms, 39, 1e-9);
  EXPECT_EQ(p.best().cut, 4u);
  // A margin of 2% lets the 2.5% gain through; 10 ms of RTT less (a 27.5% gain) passes 5%.
  o.min_offload_gain = 0.02;
  EXPECT_EQ(solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = rtt}, o).best().cut, 0u);
  o.min_offload_gain = 0.05;
  EXPECT_EQ(solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = rtt - 10}, o).best().cut, 0u);
  o.min_offload_gain = 1.5;
  EXPECT_THROW(solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = rtt}, o), Error);
}

TEST(Solver, RespectsPrivacyAndPicksTheCheapestTransport) {
  Synthetic s;
  s.cuts[0].allowed = false;
  s.cuts[0].reason = "raw input";
  Plan p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = 1});
  EXPECT_EQ(p.best().cut, 1u);
  for (auto& c : s.cuts) c.allowed = c.index == 4;
  p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = 0});
  EXPECT_EQ(p.best().cut, 4u);
  Synthetic t;
  p = solve_split(t.cuts, t.edge, t.cloud, {.bandwidth_mbps = 1, .rtt_ms = 1});
  for (const auto& c : p.cuts)
    if (c.cut < 4) {
      EXPECT_EQ(c.transport, Transport::kInt8) << c.cut;
    }
  EXPECT_THROW(solve_split(t.cuts, t.edge, LayerProfile{}, {.bandwidth_mbps = 1, .rtt_ms = 1}), Error);
}

TEST(Solver, CloudRequestOverheadIsPaidOncePerOffload) {
  Synthetic s;
  s.cloud = scale_profile(s.edge, 10, "", /*request_ms=*/40);
  const SolverOptions f32{.transports = {Transport::kF32}};
  // Without the overhead cut 0 wins at this link (see above); 40 ms per request makes all-edge (40 ms) win.
  Plan p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = 1}, f32);
  EXPECT_EQ(p.best().cut, 4u);
  EXPECT_NEAR(p.cuts[0].cloud_ms, 4 + 40, 1e-9);
  EXPECT_EQ(p.cuts[4].cloud_ms, 0);
  EXPECT_THROW(scale_profile(s.edge, 10, "", -1), Error);
}

TEST(Solver, EnergyObjectiveWeighsTheRadio) {
  Synthetic s;
  SolverOptions o{.transports = {Transport::kF32}, .objective = Objective::kEnergy};
  o.energy.radio_nj_per_bit = 1e6;  // an absurdly expensive radio: never send
  Plan p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = 1}, o);
  EXPECT_EQ(p.best().cut, 4u);
  o.energy.radio_nj_per_bit = 0;
  o.energy.radio_active_w = 0;
  p = solve_split(s.cuts, s.edge, s.cloud, {.bandwidth_mbps = 10000, .rtt_ms = 1}, o);
  EXPECT_EQ(p.best().cut, 0u);
}

TEST(Solver, AdaptivePlannerReplansOnlyWhenTheNetworkMoves) {
  Synthetic s;
  AdaptivePlanner ap(s.cuts, s.edge, s.cloud, {.transports = {Transport::kF32}}, {.bandwidth_mbps = 10000, .rtt_ms = 1});
  EXPECT_EQ(ap.plan().best().cut, 0u);
  EXPECT_FALSE(ap.update({.bandwidth_mbps = 9500, .rtt_ms = 1.05}));
  EXPECT_EQ(ap.replans(), 0);
  EXPECT_TRUE(ap.update({.bandwidth_mbps = 0.1, .rtt_ms = 1}));
  EXPECT_EQ(ap.plan().best().cut, 2u);
  EXPECT_EQ(ap.replans(), 1);
}

TEST(NetworkEstimator, EwmaConvergesToTheTrueBandwidthAndRtt) {
  NetworkEstimator est({.bandwidth_mbps = 100, .rtt_ms = 1}, 0.3);
  est.add_rtt_sample(21);
  EXPECT_NEAR(est.estimate().rtt_ms, 1 + 0.3 * 20, 1e-12);
  // A link of 8 Mbit/s and 20 ms RTT: large payloads are bandwidth samples, small ones RTT samples.
  for (int i = 0; i < 40; ++i) {
    est.observe_offload(100000, 20 + transfer_ms(100000, 8));
    est.observe_offload(50, 20 + transfer_ms(50, 8));
  }
  EXPECT_NEAR(est.estimate().bandwidth_mbps, 8, 0.4);
  EXPECT_NEAR(est.estimate().rtt_ms, 20, 1.0);
  EXPECT_GT(est.bandwidth_samples(), 0);
  EXPECT_GT(est.rtt_samples(), 0);
  const auto before = est.estimate();
  est.observe_offload(1000, std::nan(""));
  est.observe_offload(1000, -1);
  EXPECT_EQ(est.estimate().bandwidth_mbps, before.bandwidth_mbps);
  EXPECT_THROW(NetworkEstimator({.bandwidth_mbps = 0, .rtt_ms = 1}), Error);
  EXPECT_THROW(NetworkEstimator({}, 0.0), Error);
}

TEST(OipCodec, BinaryRequestRoundTripsAndJsonResponsesDecode) {
  Tensor a = random_input({2, 3}, 1);
  Tensor b(DType::kU8, Shape{4});
  for (int i = 0; i < 4; ++i) b.data<uint8_t>()[i] = static_cast<uint8_t>(250 + i);
  size_t jl = 0;
  const std::string body = encode_infer_request({{"a", a}, {"b", b}}, {"y"}, &jl);
  EXPECT_EQ(body.size(), jl + 24 + 4);
  EXPECT_NE(body.substr(0, jl).find("\"binary_data_size\":24"), std::string::npos);
  const InferRequest req = decode_infer_request(body, jl);
  EXPECT_EQ(req.outputs, std::vector<std::string>{"y"});
  EXPECT_EQ(max_abs_diff(req.inputs.at("a"), a), 0);
  size_t rl = 0;
  const std::string resp = encode_infer_response("m", req.inputs, &rl);
  auto out = decode_infer_response(resp, rl, {"a", "b"});
  EXPECT_THROW(decode_infer_response(resp.substr(0, resp.size() - 1), rl, {"a", "b"}), Error);
  EXPECT_EQ(max_abs_diff(out.at("a"), a), 0);
  EXPECT_EQ(out.at("b").data<uint8_t>()[3], 253);
  auto js = decode_infer_response(R"({"model_name":"m","outputs":[{"name":"y","shape":[1,2],"datatype":"FP32","data":[1.5,-2]}]})",
                                  0, {"y"});
  EXPECT_FLOAT_EQ(js.at("y").data<float>()[1], -2.f);
  EXPECT_THROW(decode_infer_response(R"({"outputs":[]})", 0, {"y"}), Error);
  EXPECT_THROW(decode_infer_response("not json", 0, {}), Error);
  EXPECT_THROW(decode_infer_response(R"({"outputs":[{"name":"y","shape":[3],"datatype":"FP32","data":[1]}]})", 0, {"y"}), Error);
  EXPECT_THROW(OipClient("ftp://x:1"), Error);
  EXPECT_THROW(OipClient("http://x:1", {.ca_file = "ca.pem"}), Error);  // a CA means TLS: http:// is a mistake
  EXPECT_THROW(OipClient("https://x:1", {.ca_file = "/nonexistent/ca.pem"}), Error);
  EXPECT_THROW(OipClient("http://x:99999"), Error);
}

// A hostile cloud (or a fuzzer: tests/fuzz/corpus/oip_binary_parse/shape_is_object) sends fields
// of the wrong JSON type or shapes larger than the body: each is an edgeopt::Error naming the
// tensor and field, never a JSON library exception and never a huge allocation.
TEST(OipCodec, MalformedMessagesAreErrorsNamingTheField) {
  auto what = [](const std::string& body, size_t jl = 0) -> std::string {
    try {
      (void)decode_infer_response(body, jl, {});
    } catch (const Error& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("WRONG EXCEPTION TYPE: ") + e.what();
    }
    return "no error";
  };
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos && msg.find("WRONG") == std::string::npos;
  };
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"FP32","shape":{"binary_data_size":8}}]})"), "'shape' is not an array");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":7,"datatype":"FP32","shape":[1]}]})"), "'name' is not a string");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":1,"shape":[1]}]})"), "'datatype' is not a string");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"FP32","shape":[1.5]}]})"), "non-integer");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"FP32","shape":[4294967295,4294967295,4294967295],"data":[]}]})"),
               "too many elements");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"FP32","shape":[1000000],"data":[]}]})"),
               "more elements than the");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"FP32","shape":[-1],"data":[]}]})"), "negative dim");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":[1]}]})"), "'parameters' is not an object");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"FP32","shape":[1],"parameters":{"binary_data_size":"4"}}]})"),
               "binary_data_size is not");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"FP32","shape":[1],"data":["x"]}]})"), "data[0] is not a number");
  EXPECT_PRED2(has, what(R"({"outputs":[{"name":"a","datatype":"UINT8","shape":[1],"data":[1e300]}]})"), "does not fit");
  // Values beyond float's range become infinities, as a C cast on IEEE hardware would give.
  auto big = decode_infer_response(R"({"outputs":[{"name":"a","datatype":"FP32","shape":[2],"data":[1e300,-1e300]}]})", 0, {});
  EXPECT_TRUE(std::isinf(big.at("a").data<float>()[0]) && big.at("a").data<float>()[1] < 0);
  // The request decoder: an output name that is not a string is skipped, not thrown as a type error.
  const InferRequest r = decode_infer_request(R"({"inputs":[],"outputs":[{"name":3},{"name":"y"}]})", 0);
  EXPECT_EQ(r.outputs, std::vector<std::string>{"y"});
}

}  // namespace
}  // namespace edgeopt::split

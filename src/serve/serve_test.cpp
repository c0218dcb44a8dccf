// serve tests: config.pbtxt parsing and its errors, the dynamic batcher (batched == unbatched,
// back-pressure, deadlines), and the HTTP server end to end on a free port (JSON and binary
// inference, protocol errors, repository endpoints, hot swap under load with zero failed requests,
// graceful stop).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "grpc_service.grpc.pb.h"
#include "onnx/export.h"
#include "runtime/session.h"
#include "serve/model_config.h"
#include "serve/model_repository.h"
#include "serve/model_version.h"
#include "serve/oip_http.h"
#include "serve/server.h"
#include "hw/hw_test_util.h"

namespace edgeopt::serve {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// y[N,3] = x[N,4] @ W + b, with W and b shifted by `shift` so versions give different answers.
Graph affine_graph(float shift) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape({-1, 4}), {"N", ""}});
  std::vector<float> w(12), b(3);
  for (int i = 0; i < 12; ++i) w[static_cast<size_t>(i)] = 0.1f * static_cast<float>(i) - 0.5f + shift;
  for (int i = 0; i < 3; ++i) b[static_cast<size_t>(i)] = static_cast<float>(i) + shift;
  g.initializers["W"] = Tensor::from_vector<float>({4, 3}, w);
  g.initializers["b"] = Tensor::from_vector<float>({3}, b);
  g.add_node("MatMul", {"x", "W"}, {"h"}, "mm");
  g.add_node("Add", {"h", "b"}, {"y"}, "add");
  g.outputs.push_back({"y", DType::kF32, Shape({-1, 3}), {"N", ""}});
  return g;
}

// Slow enough per run (a chain of 512x512 MatMuls) that a burst of submits outpaces one worker.
Graph slow_graph() {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape({1, 512})});
  std::vector<float> w(512 * 512, 0.001f);
  g.initializers["W"] = Tensor::from_vector<float>({512, 512}, w);
  std::string prev = "x";
  for (int i = 0; i < 24; ++i) {
    std::string out = i == 23 ? std::string("y") : std::string("h").append(std::to_string(i));
    g.add_node("MatMul", {prev, "W"}, {out}, "mm" + std::to_string(i));
    prev = out;
  }
  g.outputs.push_back({"y", DType::kF32, Shape({1, 512})});
  return g;
}

Tensor random_rows(int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(static_cast<size_t>(rows * 4));
  for (auto& f : v) f = u(rng);
  return Tensor::from_vector<float>({rows, 4}, v);
}

std::vector<float> reference(const Graph& g, const Tensor& x) {
  runtime::Session s(g);
  return s.run({{"x", x}}).at("y").to_f32_vector();
}

fs::path temp_repo(const std::string& tag) {
  auto p = fs::temp_directory_path() / ("edgeopt_serve_test_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write_version(const fs::path& repo, const std::string& model, int version, const Graph& g) {
  // Written beside the repository and renamed in, so a poll never sees a half-written folder.
  fs::path staging = repo.parent_path() / (repo.filename().string() + "_staging_" + std::to_string(version));
  fs::remove_all(staging);
  fs::create_directories(staging);
  onnx::save_model(g, (staging / "model.onnx").string());
  fs::create_directories(repo / model);
  fs::rename(staging, repo / model / std::to_string(version));
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
}

ModelConfig batch_config(int max_batch, uint64_t delay_us) {
  ModelConfig c;
  c.name = "affine";
  c.max_batch_size = max_batch;
  c.dynamic_batching = max_batch > 0;
  c.max_queue_delay_us = delay_us;
  return c;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], 1e-5 + 1e-6 * std::fabs(want[i])) << what << " at " << i;
}

// ------------------------------------------------------------------------------------------------
// config.pbtxt

TEST(ModelConfig, ParsesATritonConfigWithFieldsWeDoNotModel) {
  const std::string text = R"(
    name: "vision_cnn"
    platform: "onnxruntime_onnx"
    max_batch_size: 16
    input [ { name: "input" data_type: TYPE_FP32 format: FORMAT_NCHW dims: [ 1, 28, 28 ] } ]
    output [ { name: "output" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "labels.txt" } ]
    dynamic_batching { max_queue_delay_microseconds: 500 preferred_batch_size: [ 4, 8 ] }
    version_policy: { specific: { versions: [ 1, 3 ] } }
    instance_group [ { count: 2 kind: KIND_CPU } ]
    optimization { execution_accelerators { cpu_execution_accelerator : [ { name : "openvino" } ] } }
    model_warmup [ { name: "w" batch_size: 1 } ]
  )";
  ModelConfig c = parse_model_config(text, "repo/vision_cnn/config.pbtxt");
  EXPECT_EQ(c.name, "vision_cnn");
  EXPECT_EQ(c.max_batch_size, 16);
  ASSERT_EQ(c.inputs.size(), 1u);
  EXPECT_EQ(c.inputs[0].dims, (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(c.outputs[0].name, "output");
  EXPECT_TRUE(c.dynamic_batching);
  EXPECT_EQ(c.max_queue_delay_us, 500u);
  EXPECT_EQ(c.preferred_batch_sizes, (std::vector<int>{4, 8}));
  EXPECT_EQ(c.version_policy.kind, VersionPolicy::Kind::kSpecific);
  EXPECT_EQ(c.version_policy.versions, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(c.instance_count, 2);
}

void expect_config_error(const std::string& text, const std::string& needle) {
  try {
    parse_model_config(text, "repo/m/config.pbtxt");
    FAIL() << "no error for: " << text;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("repo/m/config.pbtxt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "expected '" << needle << "' in: " << e.what();
  }
}

TEST(ModelConfig, ErrorsNameTheFileAndTheField) {
  expect_config_error("max_batch_size: 4\ninput [ { name: \"x\" data_type: TYPE_FP32 dims: [ 4 ] }\n", "line");
  expect_config_error("input [ { name: \"x\" data_type: TYPE_STRING dims: [ 4 ] } ]", "data_type");
  expect_config_error("input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 0 ] } ]", "dims");
  expect_config_error("input [ { data_type: TYPE_FP32 dims: [ 4 ] } ]", "'name' is required");
  expect_config_error("max_batch_size: -1", "max_batch_size");
  expect_config_error("dynamic_batching { }", "needs 'max_batch_size'");
  expect_config_error("max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 8 ] }", "preferred_batch_size");
  expect_config_error("platform: \"tensorrt_plan\"", "platform");
  expect_config_error("backend: \"python\"", "backend");
  expect_config_error("version_policy { latest { num_versions: 0 } }", "num_versions");
  expect_config_error("instance_group [ { kind: KIND_GPU count: 1 } ]", "KIND_GPU");
}

TEST(ModelConfig, CompletesFromTheModelAndChecksAgreement) {
  Graph g = affine_graph(0);
  ModelConfig auto_cfg;
  complete_model_config(auto_cfg, g, "m/1/model.onnx");
  EXPECT_EQ(auto_cfg.max_batch_size, kDefaultMaxBatch);
  ASSERT_EQ(auto_cfg.inputs.size(), 1u);
  EXPECT_EQ(auto_cfg.inputs[0].dims, (std::vector<int64_t>{4}));

  auto expect_error = [&](const std::string& text, const std::string& needle) {
    ModelConfig c = parse_model_config(text, "m/config.pbtxt");
    try {
      complete_model_config(c, g, "m/1/model.onnx");
      FAIL() << "no error for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("m/1/model.onnx"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("max_batch_size: 4 input [ { name: \"z\" data_type: TYPE_FP32 dims: [ 4 ] } ]", "'z' is not an input");
  expect_error("max_batch_size: 4 input [ { name: \"x\" data_type: TYPE_INT64 dims: [ 4 ] } ]", "INT64");
  expect_error("max_batch_size: 4 input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 5 ] } ]", "dims [5]");
  // Without batching, the config's dims are the full shape: [4] is rank 1, the model is rank 2.
  expect_error("max_batch_size: 0 input [ { name: \"x\" data_type: TYPE_FP32 dims: [ 4 ] } ]", "do not match");
}

// ------------------------------------------------------------------------------------------------
// ModelVersion: batching, back-pressure, deadlines

TEST(ModelVersion, BatchedOutputsEqualUnbatchedOnes) {
  Graph g = affine_graph(0.25f);
  ModelConfig c = batch_config(8, 200000);  // a long delay: the burst below becomes few batches
  complete_model_config(c, g, "affine");
  ModelVersion mv("affine", 1, c, g, ExecOptions{1, 64});
  const std::vector<int64_t> rows = {1, 3, 2, 1, 1, 4, 2, 1, 3, 1};
  std::vector<Tensor> xs;
  std::vector<std::future<InferResult>> futures;
  for (size_t i = 0; i < rows.size(); ++i) {
    xs.push_back(random_rows(rows[i], static_cast<uint32_t>(i + 1)));
    InferRequest r;
    r.inputs["x"] = xs.back();
    futures.push_back(mv.submit(std::move(r)));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    InferResult out = futures[i].get();
    ASSERT_EQ(out.outputs.size(), 1u);
    EXPECT_EQ(out.outputs[0].second.shape(), Shape({rows[i], 3}));
    expect_near(out.outputs[0].second.to_f32_vector(), reference(g, xs[i]), "request " + std::to_string(i));
  }
  VersionStats st = mv.stats();
  EXPECT_EQ(st.requests, rows.size());
  EXPECT_LT(st.batches, rows.size()) << "requests were not batched";
  EXPECT_GT(st.max_batch_rows_seen, 1u);
  EXPECT_LE(st.max_batch_rows_seen, 8u);
}

TEST(ModelVersion, ABadRequestInABatchFailsAloneTheOthersAreAnswered) {
  // y[N,2,3] = table[idx]: a request with an index out of range makes the batched run throw.
  Graph g;
  g.inputs.push_back({"idx", DType::kI64, Shape({-1, 2}), {"N", ""}});
  g.initializers["table"] = Tensor::from_vector<float>({5, 3}, std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
  g.add_node("Gather", {"table", "idx"}, {"y"}, "gather");
  g.outputs.push_back({"y", DType::kF32, Shape({-1, 2, 3}), {"N", "", ""}});
  ModelConfig c = batch_config(8, 200000);
  complete_model_config(c, g, "gather");
  ModelVersion mv("gather", 1, c, g, ExecOptions{1, 64});
  std::vector<std::future<InferResult>> futures;
  for (int64_t i = 0; i < 5; ++i) {
    InferRequest r;
    r.inputs["idx"] = Tensor::from_vector<int64_t>({1, 2}, {i == 2 ? 7 : i, 4 - i});
    futures.push_back(mv.submit(std::move(r)));
  }
  for (int64_t i = 0; i < 5; ++i) {
    if (i == 2) {
      try {
        futures[2].get();
        FAIL() << "index 7 of a 5-row table was accepted";
      } catch (const ServeError& e) {
        EXPECT_EQ(e.status(), Status::kBadRequest);
        EXPECT_NE(e.message().find("index 7 is out of range"), std::string::npos) << e.message();
      }
      continue;
    }
    std::vector<float> y = futures[static_cast<size_t>(i)].get().outputs.at(0).second.to_f32_vector();
    std::vector<float> want;
    for (int64_t row : {i, 4 - i})
      for (int k = 0; k < 3; ++k) want.push_back(static_cast<float>(row * 3 + k));
    EXPECT_EQ(y, want) << "request " << i;
  }
  EXPECT_EQ(mv.stats().failed, 1u);
  EXPECT_EQ(mv.stats().requests, 4u);
}

TEST(ModelVersion, RejectsBadRequestsNamingTheTensor) {
  Graph g = affine_graph(0);
  ModelConfig c = batch_config(4, 0);
  complete_model_config(c, g, "affine");
  ModelVersion mv("affine", 1, c, g, ExecOptions{});
  auto expect_bad = [&](InferRequest r, const std::string& needle) {
    try {
      mv.infer(std::move(r));
      FAIL() << "no error, expected " << needle;
    } catch (const ServeError& e) {
      EXPECT_EQ(e.status(), Status::kBadRequest);
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
    }
  };
  InferRequest wrong_shape;
  wrong_shape.inputs["x"] = Tensor::zeros(DType::kF32, {1, 5});
  expect_bad(wrong_shape, "input 'x' has shape [1,5]");
  InferRequest wrong_dtype;
  wrong_dtype.inputs["x"] = Tensor::zeros(DType::kI64, {1, 4});
  expect_bad(wrong_dtype, "datatype INT64");
  InferRequest too_many_rows;
  too_many_rows.inputs["x"] = Tensor::zeros(DType::kF32, {5, 4});
  expect_bad(too_many_rows, "batch size 5");
  InferRequest missing;
  expect_bad(missing, "input 'x' is missing");
  InferRequest extra;
  extra.inputs["x"] = Tensor::zeros(DType::kF32, {1, 4});
  extra.inputs["q"] = Tensor::zeros(DType::kF32, {1, 4});
  expect_bad(extra, "'q' is not an input");
  InferRequest bad_output;
  bad_output.inputs["x"] = Tensor::zeros(DType::kF32, {1, 4});
  bad_output.outputs = {"nope"};
  expect_bad(bad_output, "output 'nope'");
}

TEST(ModelVersion, FullQueueGivesBackPressureAndAcceptedRequestsStillFinish) {
  Graph g = slow_graph();
  ModelConfig c;
  complete_model_config(c, g, "slow");
  ASSERT_EQ(c.max_batch_size, 0);
  ModelVersion mv("slow", 1, c, g, ExecOptions{1, 3});
  std::vector<std::future<InferResult>> accepted;
  int rejected = 0;
  for (int i = 0; i < 40; ++i) {
    InferRequest r;
    r.inputs["x"] = Tensor::zeros(DType::kF32, {1, 512});
    try {
      accepted.push_back(mv.submit(std::move(r)));
    } catch (const ServeError& e) {
      EXPECT_EQ(e.status(), Status::kQueueFull);
      EXPECT_NE(e.message().find("--max-queue 3"), std::string::npos) << e.message();
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GE(accepted.size(), 3u);
  for (auto& f : accepted) EXPECT_EQ(f.get().outputs.size(), 1u);
  EXPECT_EQ(mv.stats().rejected, static_cast<uint64_t>(rejected));
}

TEST(ModelVersion, RequestsPastTheirDeadlineAreNotRun) {
  Graph g = slow_graph();
  ModelConfig c;
  complete_model_config(c, g, "slow");
  ModelVersion mv("slow", 1, c, g, ExecOptions{1, 64});
  std::vector<std::future<InferResult>> busy;
  for (int i = 0; i < 4; ++i) {
    InferRequest r;
    r.inputs["x"] = Tensor::zeros(DType::kF32, {1, 512});
    busy.push_back(mv.submit(std::move(r)));
  }
  InferRequest late;
  late.inputs["x"] = Tensor::zeros(DType::kF32, {1, 512});
  late.deadline = Clock::now() + std::chrono::microseconds(200);
  auto t0 = Clock::now();
  try {
    mv.infer(std::move(late));
    FAIL() << "a request behind 4 slow ones met a 200 us deadline";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.status(), Status::kDeadlineExceeded) << e.message();
  }
  for (auto& f : busy) f.get();
  // The worker reaches the late request after the busy ones and answers it without running it.
  while (mv.stats().expired == 0 && Clock::now() - t0 < std::chrono::seconds(10))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(mv.stats().expired, 1u);
  EXPECT_EQ(mv.stats().requests, 4u);
  mv.shutdown();
  InferRequest after;
  after.inputs["x"] = Tensor::zeros(DType::kF32, {1, 512});
  try {
    mv.submit(std::move(after));
    FAIL() << "accepted after shutdown";
  } catch (const ServeError& e) {
    EXPECT_EQ(e.status(), Status::kUnavailable);
  }
}

// ------------------------------------------------------------------------------------------------
// Repository

TEST(ModelRepository, VersionPolicyAndErrorsNameTheModel) {
  fs::path repo = temp_repo("policy");
  write_version(repo, "affine", 1, affine_graph(0));
  write_version(repo, "affine", 2, affine_graph(1));
  write_version(repo, "both", 1, affine_graph(0));
  write_version(repo, "both", 3, affine_graph(1));
  write_file(repo / "both" / "config.pbtxt", "name: \"both\"\nversion_policy { all { } }\nmax_batch_size: 4\n");
  fs::create_directories(repo / "broken" / "1");
  write_file(repo / "broken" / "1" / "model.onnx", "not a protobuf");
  fs::create_directories(repo / "misnamed" / "1");
  write_file(repo / "misnamed" / "config.pbtxt", "name: \"other\"");
  ModelRepository r(repo.string(), {});
  r.poll();
  EXPECT_EQ(r.versions("affine"), (std::vector<int64_t>{2}));  // latest 1
  EXPECT_EQ(r.versions("both"), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(r.get("both", "")->version(), 3);
  EXPECT_EQ(r.get("both", "1")->config().max_batch_size, 4);
  EXPECT_FALSE(r.all_ready());
  try {
    r.get("broken", "");
    FAIL();
  } catch (const ServeError& e) {
    EXPECT_EQ(e.status(), Status::kNotFound);
    EXPECT_NE(e.message().find("failed to load"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("broken/1/model.onnx"), std::string::npos) << e.message();
  }
  try {
    r.get("affine", "1");
    FAIL();
  } catch (const ServeError& e) {
    EXPECT_NE(e.message().find("ready: 2"), std::string::npos) << e.message();
  }
  try {
    r.load("misnamed");
    FAIL();
  } catch (const ServeError& e) {
    EXPECT_EQ(e.status(), Status::kBadRequest);
    EXPECT_NE(e.message().find("field 'name' is 'other'"), std::string::npos) << e.message();
  }
  r.unload("affine");
  EXPECT_THROW(r.get("affine", ""), ServeError);
  r.poll();  // unloaded by request: a poll does not bring it back
  EXPECT_THROW(r.get("affine", ""), ServeError);
  r.load("affine");
  EXPECT_EQ(r.get("affine", "")->version(), 2);
  fs::remove_all(repo);
}

// ------------------------------------------------------------------------------------------------
// HTTP end to end

struct TestServer {
  fs::path repo;
  std::unique_ptr<Server> server;
  TestServer(const std::string& tag, std::function<void(ServerOptions&)> tweak = nullptr) {
    repo = temp_repo(tag);
    write_version(repo, "affine", 1, affine_graph(0));
    ServerOptions o;
    o.model_repo = repo.string();
    o.host = "127.0.0.1";
    o.http_port = 0;
    o.grpc_port = -1;
    o.poll_s = 0;
    o.threads = 2;
    if (tweak) tweak(o);
    server = std::make_unique<Server>(o);
    server->start();
  }
  ~TestServer() {
    server->stop();
    fs::remove_all(repo);
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server->http_port());
    c.set_read_timeout(10);
    return c;
  }
};

json infer_json(const Tensor& x) {
  return {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", x.shape().dims()}, {"data", x.to_f32_vector()}}}}};
}

TEST(HttpServer, HealthMetadataAndJsonInference) {
  TestServer ts("http_json");
  auto c = ts.client();
  auto live = c.Get("/v2/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
  auto meta = json::parse(c.Get("/v2")->body);
  EXPECT_EQ(meta["name"], "edgeopt");
  EXPECT_NE(meta["extensions"].dump().find("binary_tensor_data"), std::string::npos);
  auto mm = c.Get("/v2/models/affine");
  ASSERT_EQ(mm->status, 200) << mm->body;
  auto m = json::parse(mm->body);
  EXPECT_EQ(m["inputs"][0]["shape"], json::array({-1, 4}));
  EXPECT_EQ(m["versions"], json::array({"1"}));
  EXPECT_EQ(c.Get("/v2/models/affine/versions/1/ready")->status, 200);
  EXPECT_EQ(c.Get("/v2/models/affine/versions/7/ready")->status, 404);
  auto cfg = json::parse(c.Get("/v2/models/affine/config")->body);
  EXPECT_EQ(cfg["max_batch_size"], kDefaultMaxBatch);

  Tensor x = random_rows(3, 7);
  auto res = c.Post("/v2/models/affine/infer", infer_json(x).dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto out = json::parse(res->body);
  EXPECT_EQ(out["model_version"], "1");
  EXPECT_EQ(out["outputs"][0]["shape"], json::array({3, 3}));
  expect_near(out["outputs"][0]["data"].get<std::vector<float>>(), reference(affine_graph(0), x), "json");
  // Nested data arrays are accepted too.
  json nested = infer_json(x);
  json rows = json::array();
  auto flat = x.to_f32_vector();
  for (int r = 0; r < 3; ++r) rows.push_back(std::vector<float>(flat.begin() + r * 4, flat.begin() + r * 4 + 4));
  nested["inputs"][0]["data"] = rows;
  auto res2 = c.Post("/v2/models/affine/versions/1/infer", nested.dump(), "application/json");
  ASSERT_EQ(res2->status, 200) << res2->body;
  EXPECT_EQ(json::parse(res2->body)["outputs"][0]["data"], out["outputs"][0]["data"]);
}

TEST(HttpServer, BinaryTensorDataBothWays) {
  TestServer ts("http_binary");
  auto c = ts.client();
  Tensor x = random_rows(2, 11);
  json header = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {2, 4}},
                              {"parameters", {{"binary_data_size", x.nbytes()}}}}}},
                 {"outputs", {{{"name", "y"}, {"parameters", {{"binary_data", true}}}}}}};
  std::string h = header.dump();
  std::string body = h + std::string(static_cast<const char*>(x.raw()), x.nbytes());
  httplib::Headers hdrs = {{"Inference-Header-Content-Length", std::to_string(h.size())}};
  auto res = c.Post("/v2/models/affine/infer", hdrs, body, "application/octet-stream");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const size_t jlen = std::stoul(res->get_header_value("Inference-Header-Content-Length"));
  auto out = json::parse(res->body.substr(0, jlen));
  EXPECT_EQ(out["outputs"][0]["parameters"]["binary_data_size"], 2 * 3 * 4);
  ASSERT_EQ(res->body.size(), jlen + 24);
  std::vector<float> y(6);
  std::memcpy(y.data(), res->body.data() + jlen, 24);
  expect_near(y, reference(affine_graph(0), x), "binary");

  // A binary_data_size that disagrees with the shape is a 400 naming the input.
  header["inputs"][0]["parameters"]["binary_data_size"] = 20;
  h = header.dump();
  body = h + std::string(20, '\0');
  auto bad = c.Post("/v2/models/affine/infer", {{"Inference-Header-Content-Length", std::to_string(h.size())}}, body,
                    "application/octet-stream");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("input 'x': binary_data_size is 20"), std::string::npos) << bad->body;
}

TEST(HttpServer, ProtocolErrorsAndTheServerKeepsServing) {
  TestServer ts("http_errors", [](ServerOptions& o) { o.max_request_bytes = 4096; });
  auto c = ts.client();
  auto post = [&](const std::string& path, const std::string& body) {
    auto r = c.Post(path.c_str(), body, "application/json");
    EXPECT_TRUE(r) << path;
    return r;
  };
  auto expect = [&](const httplib::Result& r, int status, const std::string& needle) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
    EXPECT_NE(j["error"].get<std::string>().find(needle), std::string::npos) << r->body;
  };
  expect(post("/v2/models/affine/infer", "{\"inputs\": [ {\"name\": "), 400, "malformed JSON");
  expect(post("/v2/models/affine/infer",
              R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,5],"data":[1,2,3,4,5]}]})"),
         400, "input 'x' has shape [1,5]");
  expect(post("/v2/models/affine/infer", R"({"inputs":[{"name":"x","datatype":"INT64","shape":[1,4],"data":[1,2,3,4]}]})"),
         400, "datatype INT64");
  expect(post("/v2/models/affine/infer", R"({"inputs":[{"name":"x","datatype":"FP64","shape":[1,4],"data":[1,2,3,4]}]})"),
         400, "'FP64' is not supported");
  expect(post("/v2/models/affine/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3]}]})"),
         400, "3 values but shape [1,4] needs 4");
  expect(post("/v2/models/nope/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]})"),
         404, "model 'nope'");
  expect(post("/v2/models/affine/versions/9/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]})"),
         404, "no ready version '9'");
  expect(post("/v2/models/affine/infer", std::string(8192, ' ')), 413, "4096 bytes");
  expect(post("/v2/nothing/here", "{}"), 404, "no endpoint");
  // Triton's "timeout" request parameter (microseconds): 1 us passes before any worker can answer.
  expect(post("/v2/models/affine/infer",
              R"({"parameters":{"timeout":1},"inputs":[{"name":"x","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]})"),
         504, "deadline");
  // Still serving after all of that.
  auto ok = post("/v2/models/affine/infer", infer_json(random_rows(1, 3)).dump());
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST(HttpServer, RepositoryExtension) {
  TestServer ts("http_repo");
  auto c = ts.client();
  auto idx = json::parse(c.Post("/v2/repository/index", "", "application/json")->body);
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx[0]["name"], "affine");
  EXPECT_EQ(idx[0]["state"], "READY");
  EXPECT_EQ(c.Post("/v2/repository/models/affine/unload", "", "application/json")->status, 200);
  EXPECT_EQ(c.Get("/v2/models/affine/ready")->status, 404);
  write_version(ts.repo, "affine", 2, affine_graph(1));
  EXPECT_EQ(c.Post("/v2/repository/models/affine/load", "", "application/json")->status, 200);
  auto m = json::parse(c.Get("/v2/models/affine")->body);
  EXPECT_EQ(m["versions"], json::array({"2"}));
  auto missing = c.Post("/v2/repository/models/ghost/load", "", "application/json");
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("ghost"), std::string::npos);
}

TEST(HttpServer, HotSwapUnderLoadFailsNoRequest) {
  TestServer ts("http_swap", [](ServerOptions& o) { o.poll_s = 0.05; });
  const Tensor x = random_rows(1, 5);
  const auto want1 = reference(affine_graph(0), x);
  const auto want2 = reference(affine_graph(1), x);
  const std::string body = infer_json(x).dump();
  std::atomic<bool> done{false};
  std::atomic<int> ok{0}, failed{0}, wrong{0}, from_v2{0};
  std::vector<std::string> failures;
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      auto c = ts.client();
      while (!done) {
        auto r = c.Post("/v2/models/affine/infer", body, "application/json");
        if (!r || r->status != 200) {
          ++failed;
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back(r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error()));
          continue;
        }
        auto j = json::parse(r->body);
        auto y = j["outputs"][0]["data"].get<std::vector<float>>();
        const auto& want = j["model_version"] == "2" ? want2 : want1;
        bool same = y.size() == want.size();
        for (size_t i = 0; same && i < y.size(); ++i) same = std::fabs(y[i] - want[i]) <= 1e-5f;
        if (!same) ++wrong;
        if (j["model_version"] == "2") ++from_v2;
        ++ok;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const int before = ok;
  write_version(ts.repo, "affine", 2, affine_graph(1));
  auto t0 = Clock::now();
  while (ts.server->repository().versions("affine") != std::vector<int64_t>{2} &&
         Clock::now() - t0 < std::chrono::seconds(10))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  done = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(ts.server->repository().versions("affine"), (std::vector<int64_t>{2}));
  EXPECT_GT(before, 0);
  EXPECT_GT(from_v2.load(), 0);
  EXPECT_EQ(failed.load(), 0) << (failures.empty() ? "" : failures[0]);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(Server, APortInUseIsAClearErrorForHttpAndGrpc) {
  TestServer first("ports", [](ServerOptions& o) { o.grpc_port = 0; });
  for (bool http : {true, false}) {
    ServerOptions o;
    o.model_repo = first.repo.string();
    o.host = "127.0.0.1";
    o.poll_s = 0;
    o.http_port = http ? first.server->http_port() : 0;
    o.grpc_port = http ? 0 : first.server->grpc_port();
    Server second(o);
    try {
      second.start();
      FAIL() << (http ? "HTTP" : "gRPC") << " port in use was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("port in use"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(http ? "HTTP" : "gRPC"), std::string::npos) << e.what();
    }
  }
}

TEST(HttpServer, FullQueueAnswers429WithAReason) {
  TestServer ts("http_429", [](ServerOptions& o) {
    o.threads = 1;
    o.max_queue = 1;
  });
  write_version(ts.repo, "slow", 1, slow_graph());
  ts.server->repository().poll();
  json req = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 512}}, {"data", std::vector<float>(512, 0.5f)}}}}};
  const std::string body = req.dump();
  std::atomic<int> ok{0}, too_many{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 8; ++t)
    clients.emplace_back([&] {
      auto c = ts.client();
      for (int i = 0; i < 4; ++i) {
        auto r = c.Post("/v2/models/slow/infer", body, "application/json");
        if (r && r->status == 200) {
          ++ok;
        } else if (r && r->status == 429 && r->body.find("--max-queue 1") != std::string::npos) {
          ++too_many;
        } else {
          ++other;
        }
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(too_many.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ts.server->repository().get("slow", "")->stats().rejected, static_cast<uint64_t>(too_many.load()));
}

TEST(HttpServer, StopFinishesInFlightRequests) {
  TestServer ts("http_stop");
  write_version(ts.repo, "slow", 1, slow_graph());
  ts.server->repository().poll();
  json req = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 512}}, {"data", std::vector<float>(512, 0.5f)}}}}};
  const std::string body = req.dump();
  std::atomic<int> ok{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 6; ++t)
    clients.emplace_back([&] {
      auto c = ts.client();
      auto r = c.Post("/v2/models/slow/infer", body, "application/json");
      if (r && r->status == 200) ++ok;
      else ++other;
    });
  // Wait until all six are accepted (queued or running), then stop while they are in flight.
  auto t0 = Clock::now();
  while (ts.server->repository().get("slow", "")->stats().accepted < 6 &&
         Clock::now() - t0 < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  ASSERT_EQ(ts.server->repository().get("slow", "")->stats().accepted, 6u);
  ts.server->stop();
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(other.load(), 0);
  EXPECT_FALSE(ts.server->ready());
}

// ------------------------------------------------------------------------------------------------
// gRPC end to end (the generated stub of proto/grpc_service.proto, as tritonclient.grpc uses it)

TEST(GrpcServer, InferWithTypedAndRawContentsAndStatusCodes) {
  TestServer ts("grpc", [](ServerOptions& o) {
    o.grpc_port = 0;
    o.max_request_bytes = 64 * 1024;
  });
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(ts.server->grpc_port()), grpc::InsecureChannelCredentials());
  auto stub = inference::GRPCInferenceService::NewStub(channel);
  {
    grpc::ClientContext ctx;
    inference::ServerLiveRequest q;
    inference::ServerLiveResponse r;
    ASSERT_TRUE(stub->ServerLive(&ctx, q, &r).ok());
    EXPECT_TRUE(r.live());
  }
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest q;
    q.set_name("affine");
    inference::ModelMetadataResponse r;
    ASSERT_TRUE(stub->ModelMetadata(&ctx, q, &r).ok());
    ASSERT_EQ(r.inputs_size(), 1);
    EXPECT_EQ(r.inputs(0).datatype(), "FP32");
    EXPECT_EQ(std::vector<int64_t>(r.inputs(0).shape().begin(), r.inputs(0).shape().end()), (std::vector<int64_t>{-1, 4}));
  }
  {
    grpc::ClientContext ctx;
    inference::ModelConfigRequest q;
    q.set_name("affine");
    inference::ModelConfigResponse r;
    ASSERT_TRUE(stub->ModelConfig(&ctx, q, &r).ok());
    EXPECT_EQ(r.config().max_batch_size(), kDefaultMaxBatch);
  }
  const Tensor x = random_rows(2, 21);
  const auto want = reference(affine_graph(0), x);
  auto request = [&](bool raw) {
    inference::ModelInferRequest q;
    q.set_model_name("affine");
    q.set_id("req-1");
    auto* in = q.add_inputs();
    in->set_name("x");
    in->set_datatype("FP32");
    in->add_shape(2);
    in->add_shape(4);
    auto v = x.to_f32_vector();
    if (raw) q.add_raw_input_contents(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    else for (float f : v) in->mutable_contents()->add_fp32_contents(f);
    return q;
  };
  for (bool raw : {true, false}) {
    grpc::ClientContext ctx;
    inference::ModelInferResponse r;
    grpc::Status st = stub->ModelInfer(&ctx, request(raw), &r);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(r.id(), "req-1");
    EXPECT_EQ(r.model_version(), "1");
    ASSERT_EQ(r.raw_output_contents_size(), 1);
    std::vector<float> y(6);
    ASSERT_EQ(r.raw_output_contents(0).size(), 24u);
    std::memcpy(y.data(), r.raw_output_contents(0).data(), 24);
    expect_near(y, want, raw ? "grpc raw" : "grpc typed");
  }
  auto expect_status = [&](inference::ModelInferRequest q, grpc::StatusCode code, const std::string& needle) {
    grpc::ClientContext ctx;
    inference::ModelInferResponse r;
    grpc::Status st = stub->ModelInfer(&ctx, q, &r);
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    EXPECT_NE(st.error_message().find(needle), std::string::npos) << st.error_message();
  };
  auto short_typed = request(false);
  short_typed.mutable_inputs(0)->mutable_contents()->mutable_fp32_contents()->RemoveLast();
  expect_status(short_typed, grpc::StatusCode::INVALID_ARGUMENT, "fp32_contents has 7 values");
  auto short_raw = request(true);
  short_raw.mutable_raw_input_contents(0)->resize(20);
  expect_status(short_raw, grpc::StatusCode::INVALID_ARGUMENT, "raw_input_contents has 20 bytes");
  auto wrong_shape = request(true);
  wrong_shape.mutable_inputs(0)->set_shape(1, 2);
  wrong_shape.mutable_raw_input_contents(0)->resize(16);
  expect_status(wrong_shape, grpc::StatusCode::INVALID_ARGUMENT, "input 'x' has shape [2,2]");
  auto unknown = request(true);
  unknown.set_model_name("ghost");
  expect_status(unknown, grpc::StatusCode::NOT_FOUND, "model 'ghost'");
  auto huge = request(true);
  huge.mutable_raw_input_contents(0)->resize(128 * 1024);
  expect_status(huge, grpc::StatusCode::RESOURCE_EXHAUSTED, "");
  {
    // Triton's "timeout" parameter (microseconds): 1 us passes before any worker can answer.
    grpc::ClientContext ctx;
    auto q = request(true);
    (*q.mutable_parameters())["timeout"].set_int64_param(1);
    inference::ModelInferResponse r;
    grpc::Status st = stub->ModelInfer(&ctx, q, &r);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
    EXPECT_NE(st.error_message().find("deadline"), std::string::npos) << st.error_message();
  }
  {
    grpc::ClientContext ctx;
    inference::ModelInferResponse r;
    EXPECT_TRUE(stub->ModelInfer(&ctx, request(true), &r).ok()) << "still serving after the errors";
  }
}

}  // namespace
}  // namespace edgeopt::serve

namespace edgeopt::serve {
namespace {

// Counts of one exposition line "name{labels} value" (first match), -1 when absent.
double metric_value(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

TEST(HttpServer, PrometheusMetricsCountRequestsAndPassPromtool) {
  TestServer ts("metrics");
  auto c = ts.client();
  for (int i = 0; i < 5; ++i) {
    auto r = c.Post("/v2/models/affine/infer", infer_json(random_rows(2, i)).dump(), "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
  }
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->status, 200);
  const std::string& text = m->body;
  const std::string labels = "{model=\"affine\",version=\"1\"}";
  EXPECT_EQ(metric_value(text, "edgeopt_requests_total" + labels), 5) << text;
  EXPECT_EQ(metric_value(text, "edgeopt_request_latency_seconds_count" + labels), 5);
  EXPECT_EQ(metric_value(text, "edgeopt_batch_size_rows_sum" + labels), 10);
  EXPECT_EQ(metric_value(text, "edgeopt_queue_depth" + labels), 0);
  EXPECT_GT(metric_value(text, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(metric_value(text, "edgeopt_request_latency_seconds_sum" + labels), 0);
  // The official checker (Debian `prometheus` ships promtool) accepts the exposition.
  ASSERT_EQ(std::system("command -v promtool > /dev/null 2>&1"), 0)
      << "promtool not found (scripts/install-deps.sh installs Debian's prometheus)";
  const auto path = fs::temp_directory_path() / ("edgeopt_metrics_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path) << text;
  const std::string cmd = "promtool check metrics < " + path.string() + " > " + path.string() + ".out 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream out(path.string() + ".out");
  std::string msg((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << "promtool check metrics: " << msg;
  fs::remove(path);
  fs::remove(path.string() + ".out");
}

}  // namespace
}  // namespace edgeopt::serve

namespace edgeopt::serve {
namespace {

TEST(HttpServer, DriftReferenceInTheRepositoryTurnsOnDriftMetrics) {
  // Reference: the affine model's inputs as the unshifted traffic draws them (uniform [-1, 1]).
  TestServer ts("drift", [](ServerOptions&) {});
  Tensor ref = random_rows(2000, 99);
  monitor::DriftConfig dc;
  dc.window = 100;
  dc.step = 50;
  std::ofstream(ts.repo / "affine" / "drift_reference.json") << monitor::DriftDetector::fit(ref, nullptr, dc).to_json().dump();
  auto c = ts.client();
  ASSERT_EQ(c.Post("/v2/repository/models/affine/load", "", "application/json")->status, 200);  // reload with the reference
  const std::string labels = "{model=\"affine\",version=\"1\"}";
  for (int i = 0; i < 60; ++i)  // 300 unshifted rows: no alarm
    ASSERT_EQ(c.Post("/v2/models/affine/infer", infer_json(random_rows(5, 1000 + i)).dump(), "application/json")->status, 200);
  std::string text = c.Get("/metrics")->body;
  EXPECT_EQ(metric_value(text, "edgeopt_drift_samples_total" + labels), 300) << text;
  EXPECT_EQ(metric_value(text, "edgeopt_drift_alarm" + labels), 0) << text;
  for (int i = 0; i < 30; ++i) {  // shifted by +0.5: the detector alarms within 150 rows
    Tensor x = random_rows(5, 2000 + i);
    for (int64_t k = 0; k < x.numel(); ++k) x.data<float>()[k] += 0.5f;
    ASSERT_EQ(c.Post("/v2/models/affine/infer", infer_json(x).dump(), "application/json")->status, 200);
  }
  text = c.Get("/metrics")->body;
  EXPECT_EQ(metric_value(text, "edgeopt_drift_alarm" + labels), 1) << text;
  EXPECT_GT(metric_value(text, "edgeopt_drift_max_ks" + labels), 0.3);
}

}  // namespace
}  // namespace edgeopt::serve

namespace edgeopt::serve {
namespace {

void expect_promtool_accepts(const std::string& text) {
  ASSERT_EQ(std::system("command -v promtool > /dev/null 2>&1"), 0)
      << "promtool not found (scripts/install-deps.sh installs Debian's prometheus)";
  const auto path = fs::temp_directory_path() / ("edgeopt_metrics_fb_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path) << text;
  const std::string cmd = "promtool check metrics < " + path.string() + " > " + path.string() + ".out 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream out(path.string() + ".out");
  std::string msg((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << "promtool check metrics: " << msg;
  fs::remove(path);
  fs::remove(path.string() + ".out");
}

TEST(HttpServer, FeedbackLabelsGiveRollingAccuracyInMetricsAndJson) {
  TestServer ts("feedback");
  auto c = ts.client();
  const Graph g = affine_graph(0);
  json labels = json::array();
  int expected_correct = 0;
  for (int i = 0; i < 20; ++i) {
    Tensor x = random_rows(1, 500 + static_cast<uint32_t>(i));
    json body = infer_json(x);
    if (i % 2 == 0) body["id"] = "req-" + std::to_string(i);  // odd requests: the server makes the id
    auto r = c.Post("/v2/models/affine/infer", body.dump(), "application/json");
    ASSERT_EQ(r->status, 200) << r->body;
    const json out = json::parse(r->body);
    ASSERT_TRUE(out.contains("id")) << r->body;
    const std::string id = out["id"];
    if (i % 2 == 0) {
      EXPECT_EQ(id, "req-" + std::to_string(i));
    }
    const std::vector<float> y = reference(g, x);
    const int64_t argmax = std::max_element(y.begin(), y.end()) - y.begin();
    const bool right = i % 4 != 3;  // 15 of 20 labels agree with the model
    expected_correct += right;
    labels.push_back({{"id", id}, {"label", right ? argmax : (argmax + 1) % 3}});
  }
  labels.push_back({{"id", "never-sent"}, {"label", 0}});
  labels.push_back({{"label", 1}});  // no id: rejected, the others still count
  auto f = c.Post("/v2/models/affine/feedback", json{{"labels", labels}}.dump(), "application/json");
  ASSERT_EQ(f->status, 200) << f->body;
  const json fr = json::parse(f->body);
  EXPECT_EQ(fr["matched"], 20) << f->body;
  EXPECT_EQ(fr["unknown"], 1);
  EXPECT_EQ(fr["unknown_ids"][0], "never-sent");
  EXPECT_EQ(fr["rejected"], 1);
  // The same labels again are duplicates, not double counts.
  EXPECT_EQ(json::parse(c.Post("/v2/models/affine/feedback", json{{"labels", labels}}.dump(), "application/json")->body)["duplicate"], 20);
  EXPECT_EQ(c.Post("/v2/models/affine/feedback", "{\"labels\": 3}", "application/json")->status, 400);
  EXPECT_EQ(c.Post("/v2/models/nope/feedback", json{{"labels", labels}}.dump(), "application/json")->status, 404);

  const double acc = expected_correct / 20.0;
  const json fj = json::parse(c.Get("/v2/models/affine/feedback")->body);
  ASSERT_EQ(fj["versions"].size(), 1u) << fj.dump();
  EXPECT_DOUBLE_EQ(fj["versions"][0]["accuracy"].get<double>(), acc);
  EXPECT_EQ(fj["versions"][0]["n"], 20);
  EXPECT_EQ(fj["unknown_total"], 2);  // "never-sent" was posted twice

  const std::string text = c.Get("/metrics")->body;
  const std::string lab = "{model=\"affine\",version=\"1\"}";
  EXPECT_DOUBLE_EQ(metric_value(text, "edgeopt_rolling_accuracy" + lab), acc) << text;
  EXPECT_EQ(metric_value(text, "edgeopt_rolling_labels" + lab), 20);
  EXPECT_EQ(metric_value(text, "edgeopt_feedback_labels_total" + lab), 20);
  EXPECT_EQ(metric_value(text, "edgeopt_feedback_unknown_total{model=\"affine\"}"), 2);
  EXPECT_EQ(metric_value(text, "edgeopt_serving_version{model=\"affine\"}"), 1);
  const double f1 = metric_value(text, "edgeopt_rolling_f1" + lab);
  EXPECT_GT(f1, 0);
  EXPECT_LE(f1, 1);
  // Energy per inference, labelled with where it comes from (this host: RAPL if readable).
  const bool measured = text.find("edgeopt_energy_per_inference_joules{model=\"affine\",version=\"1\",energy_source=\"measured\"}") != std::string::npos;
  const bool estimate = text.find("edgeopt_energy_per_inference_joules{model=\"affine\",version=\"1\",energy_source=\"estimate\"}") != std::string::npos;
  EXPECT_TRUE(measured != estimate) << text;
  expect_promtool_accepts(text);

  const json mon = json::parse(c.Get("/v2/monitor")->body);
  const json& v = mon["models"][0]["versions"][0];
  EXPECT_EQ(v["requests"], 20);
  EXPECT_DOUBLE_EQ(v["rolling"]["accuracy"].get<double>(), acc);
  EXPECT_EQ(v["rolling"]["f1"].get<double>(), fj["versions"][0]["f1"].get<double>());
  EXPECT_GT(v["p99_ms"].get<double>(), 0);
  EXPECT_GE(v["p99_ms"].get<double>(), v["p50_ms"].get<double>());
  EXPECT_GT(v["energy"]["mj_per_inference"].get<double>(), 0);
  EXPECT_EQ(mon["models"][0]["serving_version"], 1);
}

TEST(ModelRepository, SetServingRoutesUnnamedRequestsAndSwapsWithoutFailures) {
  TestServer ts("serving");
  write_version(ts.repo, "affine", 2, affine_graph(1));
  write_file(ts.repo / "affine" / "config.pbtxt", "version_policy: { all: {} }\n");
  ts.server->repository().load("affine");
  ASSERT_EQ(ts.server->repository().versions("affine"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(ts.server->repository().serving("affine"), 2);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, answered{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t)
    clients.emplace_back([&, t] {
      auto c = ts.client();
      for (int i = 0; !stop; ++i) {
        auto r = c.Post("/v2/models/affine/infer", infer_json(random_rows(1, static_cast<uint32_t>(t * 100000 + i))).dump(), "application/json");
        if (!r || r->status != 200) ++failures;
        else ++answered;
      }
    });
  for (int k = 0; k < 20; ++k) {
    ts.server->repository().set_serving("affine", k % 2 ? 2 : 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ts.server->repository().set_serving("affine", 1);
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GT(answered, 20);
  EXPECT_EQ(ts.server->repository().serving("affine"), 1);
  auto c = ts.client();
  EXPECT_EQ(json::parse(c.Post("/v2/models/affine/infer", infer_json(random_rows(1, 1)).dump(), "application/json")->body)["model_version"], "1");
  EXPECT_THROW(ts.server->repository().set_serving("affine", 9), ServeError);
}

}  // namespace
}  // namespace edgeopt::serve

namespace edgeopt::serve {
namespace {

TEST(HttpServer, EnergyPerInferenceIsMeasuredWhenACounterIsReadable) {
  // A fake powercap tree (the RAPL reader's documented layout): 2 J spent while the node runs.
  hw::testing::TempTree t("serve_energy");
  t.write("intel-rapl/enabled", "1\n");
  auto zone = [&](uint64_t uj) {
    t.write("intel-rapl:0/name", "package-0\n");
    t.write("intel-rapl:0/energy_uj", std::to_string(uj) + "\n");
    t.write("intel-rapl:0/max_energy_range_uj", "262143328850\n");
  };
  zone(1'000'000);
  TestServer ts("energy", [&](ServerOptions& o) { o.energy.powercap_root = t.root(); });
  const auto started = std::chrono::steady_clock::now();
  auto c = ts.client();
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(c.Post("/v2/models/affine/infer", infer_json(random_rows(2, 3000 + i)).dump(), "application/json")->status, 200);
  // Some CPU time in the process, and at least a second between the counter reads.
  volatile double sink = 0;
  while (std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1100)) sink = sink + 1e-9;
  zone(3'000'000);
  const std::string text = c.Get("/metrics")->body;
  const std::string key = "edgeopt_energy_per_inference_joules{model=\"affine\",version=\"1\",energy_source=\"measured\"}";
  const double j = metric_value(text, key);
  // 2 J attributed by CPU time: the model's share of the process CPU, per row (40 rows).
  EXPECT_GT(j, 0) << text;
  EXPECT_LE(j, 2.0 / 40) << text;
  EXPECT_EQ(text.find("energy_source=\"estimate\""), std::string::npos);
  expect_promtool_accepts(text);
}

}  // namespace
}  // namespace edgeopt::serve

namespace edgeopt::serve {
namespace {

// Resident memory of this process, in bytes.
size_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// A retired version must give its memory back: swapping a model with 200 weight tensors (5.6 MB,
// each under the tensor block cache's 64 KiB) 30 times, with inference on the workers, must not
// grow RSS by one model's size after the first swaps (a version kept alive would add 5.6 MB per
// swap). The allocator's share (glibc keeping freed pages, fixed by malloc_trim and a fixed mmap
// threshold) shows only in a long-running server with many threads: bench/soak.py measures that.
TEST(ModelRepository, SwappingVersionsDoesNotGrowResidentMemory) {
  // Under ASan/TSan freed memory sits in quarantine or shadow maps, so RSS says nothing there: the
  // swaps and answers still run (and the sanitizers check them), only the RSS bound is left out.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr bool kRssMeaningful = false;
#else
  constexpr bool kRssMeaningful = true;
#endif
  fs::path repo = temp_repo("swap_rss");
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape({1, 84})});
  std::string prev = "x";
  for (int i = 0; i < 200; ++i) {
    const std::string w = "W" + std::to_string(i), out = i == 199 ? std::string("y") : "h" + std::to_string(i);
    g.initializers[w] = Tensor::from_vector<float>({84, 84}, std::vector<float>(84 * 84, 1.0f / 84));
    g.add_node("MatMul", {prev, w}, {out}, "mm" + std::to_string(i));
    prev = out;
  }
  g.outputs.push_back({"y", DType::kF32, Shape({1, 84})});
  write_version(repo, "big", 1, g);
  ModelRepository r(repo.string(), {});
  r.poll();
  size_t after_warmup = 0;
  for (int v = 2; v <= 31; ++v) {
    write_version(repo, "big", v, g);
    r.load("big");
    for (int k = 0; k < 4; ++k) {
      InferRequest req;
      req.inputs["x"] = Tensor::from_vector<float>({1, 84}, std::vector<float>(84, 1.0f));
      EXPECT_NEAR(r.get("big", "")->infer(std::move(req)).outputs.at(0).second.at(0), 1.0f, 1e-3f);
    }
    if (v == 6) after_warmup = resident_bytes();
  }
  const double grown_mb = (static_cast<double>(resident_bytes()) - static_cast<double>(after_warmup)) / (1 << 20);
  if (kRssMeaningful) {
    EXPECT_LT(grown_mb, 5.0) << "RSS grew " << grown_mb << " MB over 25 swaps of a 5.6 MB model";
  }
  EXPECT_EQ(r.get("big", "")->version(), 31) << "the last swap serves";
  fs::remove_all(repo);
}

TEST(ModelVersion, RecentLatenciesCoverTheWindowAndTheRingCap) {
  Graph g = affine_graph(0);
  ModelConfig c = batch_config(8, 0);
  complete_model_config(c, g, "affine");
  ModelVersion mv("affine", 1, c, g, ExecOptions{});
  for (int i = 0; i < 5; ++i) {
    InferRequest r;
    r.inputs["x"] = random_rows(1, 4000 + static_cast<uint32_t>(i));
    mv.infer(std::move(r));
  }
  double covered = 0;
  // The answer is delivered before its latency is recorded (monitoring never delays an answer).
  auto lat = mv.recent_latencies(30, &covered);
  for (int k = 0; k < 100 && (lat.size() < 5 || mv.stats().requests < 5); ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lat = mv.recent_latencies(30, &covered);
  }
  ASSERT_EQ(lat.size(), 5u);
  EXPECT_DOUBLE_EQ(covered, 30);
  for (double l : lat) EXPECT_GT(l, 0);
  EXPECT_EQ(mv.stats().requests, 5u);
  EXPECT_GT(mv.stats().run_cpu_seconds, 0);
  // Past the 4096-answer ring, the window is cut and says how much it covers.
  for (int i = 0; i < 4200; ++i) {
    InferRequest r;
    r.inputs["x"] = random_rows(1, 9);
    mv.infer(std::move(r));
  }
  lat = mv.recent_latencies(30, &covered);
  EXPECT_EQ(lat.size(), 4096u);
  EXPECT_LT(covered, 30);
  EXPECT_GT(covered, 0);
}

}  // namespace
}  // namespace edgeopt::serve

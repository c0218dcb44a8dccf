#include "mqtt/ingest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "runtime/session.h"
#include "train/zoo/zoo.h"

namespace edgeopt::mqtt {
namespace {

using nlohmann::json;

Graph lstm(int64_t steps, int64_t features) {
  return train::build_zoo_model("env_lstm",
                                {.input_shape = {steps, features}, .num_outputs = 1, .width = 8, .seed = 3});
}

Graph mlp(int64_t features) {
  return train::build_zoo_model("safety_mlp", {.input_shape = {features}, .num_outputs = 2, .width = 8, .seed = 5});
}

std::string reading_json(const std::string& id, const std::vector<float>& v) {
  return json({{"id", id}, {"values", v}}).dump();
}

std::vector<float> data_of(const Outgoing& out, const std::string& output = "output") {
  auto j = json::parse(out.payload);
  std::vector<float> v;
  for (const auto& x : j["outputs"][output]["data"]) v.push_back(static_cast<float>(x.get<double>()));
  return v;
}

TEST(MqttDuplicateWindow, RemembersTheLastCapacityKeys) {
  DuplicateWindow w(2);
  EXPECT_FALSE(w.seen("a"));
  EXPECT_TRUE(w.seen("a"));
  EXPECT_FALSE(w.seen("b"));
  EXPECT_FALSE(w.seen("c"));  // evicts "a"
  EXPECT_EQ(w.size(), 2u);
  EXPECT_FALSE(w.seen("a"));
  EXPECT_TRUE(w.seen("c"));
}

TEST(MqttPendingPublishes, RefusesAndCountsBeyondTheLimit) {
  PendingPublishes p(2);
  ASSERT_TRUE(p.admit());
  p.sent(7);
  ASSERT_TRUE(p.admit());
  p.sent(8);
  EXPECT_FALSE(p.admit());
  EXPECT_FALSE(p.admit());
  EXPECT_EQ(p.dropped(), 2u);
  EXPECT_TRUE(p.acked(7));
  EXPECT_FALSE(p.acked(7));  // a second PUBACK for the same id changes nothing
  EXPECT_TRUE(p.admit());
  EXPECT_EQ(p.size(), 1u);
}

// Sliding window per topic: results equal a Session run on the last N readings, duplicates are
// dropped before they enter the window, and two topics keep separate windows.
TEST(MqttIngestor, SlidingWindowMatchesDirectRunAndDropsDuplicates) {
  const int64_t n = 4;
  std::vector<Route> routes;
  routes.push_back({.topic_filter = "sensors/+/env", .model_name = "lstm", .graph = lstm(n, 2), .window = n});
  Ingestor ing(std::move(routes), {.out_prefix = "out"});
  EXPECT_EQ(ing.values_per_reading(0), 2);
  runtime::Session oracle(lstm(n, 2));

  std::vector<std::vector<float>> a, b;
  for (int i = 0; i < 7; ++i) {
    a.push_back({0.1f * i, 1.f - 0.2f * i});
    b.push_back({-0.3f * i, 0.05f * i * i});
  }
  int results = 0;
  for (int i = 0; i < 7; ++i) {
    for (auto [topic, series] : {std::pair{"sensors/a/env", &a}, std::pair{"sensors/b/env", &b}}) {
      auto out = ing.handle(topic, reading_json(std::string(topic) + "#" + std::to_string(i), (*series)[i]));
      if (i == 4) {  // a broker redelivery of reading 4: no second result, window unchanged
        EXPECT_TRUE(ing.handle(topic, reading_json(std::string(topic) + "#" + std::to_string(i), {9, 9})).empty());
      }
      if (i < n - 1) {
        EXPECT_TRUE(out.empty()) << "reading " << i << " only fills the window";
        continue;
      }
      ASSERT_EQ(out.size(), 1u);
      EXPECT_FALSE(out[0].error) << out[0].payload;
      EXPECT_EQ(out[0].topic, std::string("out/") + topic);
      std::vector<float> window;
      for (int k = i - n + 1; k <= i; ++k) window.insert(window.end(), (*series)[k].begin(), (*series)[k].end());
      auto want = oracle.run({{"input", Tensor::from_vector<float>({1, n, 2}, window)}}).at("output");
      auto got = data_of(out[0]);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0], want.data<float>()[0]) << topic << " reading " << i;
      auto j = json::parse(out[0].payload);
      EXPECT_EQ(j["id"], std::string(topic) + "#" + std::to_string(i));
      EXPECT_EQ(j["model"], "lstm");
      EXPECT_GE(j["latency_ms"].get<double>(), 0.0);
      ++results;
    }
  }
  EXPECT_EQ(results, 2 * (7 - n + 1));
  IngestStats s = ing.stats();
  EXPECT_EQ(s.received, 16u);
  EXPECT_EQ(s.results, 8u);
  EXPECT_EQ(s.duplicates, 2u);
  EXPECT_EQ(s.buffered, 6u);
  EXPECT_EQ(s.errors, 0u);
}

TEST(MqttIngestor, BadReadingsGetErrorRepliesAndTheLoopGoesOn) {
  std::vector<Route> routes;
  routes.push_back({.topic_filter = "tab/#", .model_name = "mlp", .graph = mlp(6)});
  Ingestor ing(std::move(routes), {.out_prefix = "out", .error_prefix = "err"});
  EXPECT_EQ(ing.values_per_reading(0), 6);
  auto expect_error = [&](const std::string& topic, std::string_view payload, const std::string& part) {
    auto out = ing.handle(topic, payload);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].error);
    EXPECT_EQ(out[0].topic, "err/" + topic);
    auto j = json::parse(out[0].payload);
    EXPECT_EQ(j["topic"], topic);
    std::string e = j["error"];
    EXPECT_NE(e.find(part), std::string::npos) << "got '" << e << "', want '" << part << "'";
  };
  expect_error("tab/x", "{\"values\": [1, 2", "malformed JSON");
  expect_error("tab/x", reading_json("r1", {1, 2, 3}), "reading has 3 values, model 'mlp' needs 6");
  std::vector<float> nan6(6, 0.f);
  nan6[2] = std::nanf("");
  expect_error("tab/x", encode_binary_reading("r2", nan6), "value 2 (nan)");
  expect_error("other/x", reading_json("r3", {1, 2, 3, 4, 5, 6}), "no model is subscribed to topic 'other/x'");
  // A good reading still works after all that; its result equals a direct run.
  std::vector<float> x = {0.5f, -1, 2, 0, 3, 1};
  auto out = ing.handle("tab/x", encode_binary_reading("r4", x));
  ASSERT_EQ(out.size(), 1u);
  ASSERT_FALSE(out[0].error) << out[0].payload;
  runtime::Session oracle(mlp(6));
  auto want = oracle.run({{"input", Tensor::from_vector<float>({1, 6}, x)}}).at("output");
  auto got = data_of(out[0]);
  ASSERT_EQ(got.size(), 2u);
  for (int i = 0; i < 2; ++i) EXPECT_EQ(got[i], want.data<float>()[i]);
  EXPECT_EQ(ing.stats().errors, 4u);
  EXPECT_EQ(ing.stats().results, 1u);
}

TEST(MqttIngestor, RoutesThatCannotWorkAreRefusedAtStart) {
  auto error_of = [](std::vector<Route> routes) -> std::string {
    try {
      Ingestor ing(std::move(routes));
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  std::vector<Route> r1;
  r1.push_back({.topic_filter = "t", .model_name = "mlp", .graph = mlp(6), .window = 4});
  EXPECT_NE(error_of(std::move(r1)).find("--window needs an input [batch, time, features...]"), std::string::npos);
  std::vector<Route> r2;
  r2.push_back({.topic_filter = "t", .model_name = "lstm", .graph = lstm(5, 2), .window = 4});
  {
    std::string e = error_of(std::move(r2));
    EXPECT_NE(e.find("window 4 but input 'input'"), std::string::npos) << e;
    EXPECT_NE(e.find("has 5 time steps"), std::string::npos) << e;
  }
  EXPECT_NE(error_of({}).find("at least one"), std::string::npos);
}

}  // namespace
}  // namespace edgeopt::mqtt

// MQTT ingestion: sensor readings in, model results out (docs/mqtt.md).
//
// Two pieces, so the logic is testable without a broker:
//   Ingestor    topic + payload -> messages to publish (results or errors). Routes topics to
//               models, decodes (mqtt/message.h), drops duplicates, keeps a sliding window per
//               topic, runs a runtime::Session. No network.
//   IngestNode  binds an Ingestor to a broker through mqtt::Client: persistent session, QoS-1
//               subscriptions, reconnect with exponential backoff, a bounded count of QoS-1
//               publishes awaiting PUBACK (kept across disconnects), counters.
//
//   std::vector<mqtt::Route> routes;
//   routes.push_back({.topic_filter = "sensors/+/env", .model_name = "lstm",
//                     .graph = onnx::load_model("lstm.onnx"), .window = 24});
//   mqtt::Ingestor ingestor(std::move(routes), {.out_prefix = "edgeopt/out"});
//   mqtt::IngestNode node(ingestor, {.host = "localhost", .port = 1883, .client_id = "edge-1"});
//   std::atomic<bool> stop{false};
//   node.run(stop);                         // returns after `stop` becomes true
//   node.stats();                           // received, results, errors, duplicates, ...
//
// Routing: a message goes to the first route whose filter matches its topic. The sensor of a
// message is its topic: windows are kept per topic.
// Model input: the model must have exactly one f32 input. A leading dim that is symbolic (or 1)
// is the batch, fed as 1.
//   window == 0: one reading = one input; it carries prod(other dims) values.
//   window == N: input [B, T, F...] with T == N (or symbolic); one reading carries prod(F...)
//                values, and once a topic has N readings every new reading runs the model on the
//                last N (oldest first). Readings before that only fill the window (`buffered`).
// Duplicates: a reading whose (topic, id) was seen among the last `dedupe_window` ids is dropped
// (counted, no reply), before it can enter a window. Readings without an id are never dropped.
// Results go to "<out_prefix>/<input topic>", errors to "<error_prefix>/<input topic>"; a model
// failure (e.g. wrong value count) is an error reply too, never an exception out of handle().
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "core/graph.h"
#include "mqtt/message.h"

namespace edgeopt::runtime {
class Session;
}

namespace edgeopt::mqtt {

struct Route {
  std::string topic_filter;  // MQTT filter, wildcards + and # allowed
  std::string model_name;    // echoed in results ("model")
  Graph graph;
  int64_t window = 0;  // 0: one reading per inference; N: sliding window of N readings
};

struct IngestOptions {
  std::string out_prefix = "edgeopt/out";
  std::string error_prefix = "edgeopt/errors";
  DecodeOptions decode;
  size_t dedupe_window = 10000;  // (topic, id) pairs remembered for duplicate suppression
  size_t max_topics = 10000;     // topics with a window; readings on further topics are refused
};

struct Outgoing {
  std::string topic;
  std::string payload;
  bool error = false;
};

// The last `capacity` keys, first in first out.
class DuplicateWindow {
 public:
  explicit DuplicateWindow(size_t capacity) : capacity_(capacity) {}
  // True when `key` is among the remembered ones; otherwise remembers it and returns false.
  bool seen(const std::string& key);
  size_t size() const { return order_.size(); }

 private:
  size_t capacity_;
  std::unordered_set<std::string> keys_;
  std::deque<std::string> order_;
};

// QoS-1 publishes awaiting PUBACK, bounded: admit() refuses (and counts) once `limit` are pending,
// so a node that stays offline for hours keeps bounded memory.
class PendingPublishes {
 public:
  explicit PendingPublishes(size_t limit) : limit_(limit) {}
  bool admit();  // false (and ++dropped) when `limit` publishes are pending
  void sent(int mid) { mids_.insert(mid); }
  bool acked(int mid) { return mids_.erase(mid) > 0; }
  size_t size() const { return mids_.size(); }
  uint64_t dropped() const { return dropped_; }

 private:
  size_t limit_;
  std::unordered_set<int> mids_;
  uint64_t dropped_ = 0;
};

struct IngestStats {
  uint64_t received = 0;        // messages handed to the ingestor
  uint64_t results = 0;         // results produced (model runs)
  uint64_t errors = 0;          // error replies produced
  uint64_t duplicates = 0;      // dropped as already seen
  uint64_t buffered = 0;        // readings that only filled a window
  uint64_t published = 0;       // publishes acknowledged by the broker (PUBACK)
  uint64_t pending = 0;         // publishes awaiting PUBACK now
  uint64_t dropped = 0;         // results/errors not published: the pending bound was hit
  uint64_t publish_failed = 0;  // refused by libmosquitto (e.g. payload too large)
  uint64_t connects = 0;        // accepted CONNACKs
  uint64_t reconnects = 0;      // CONNACKs after the first
};

class Ingestor {
 public:
  // Throws InvalidArgument naming the route's model when its input does not fit the rules above.
  Ingestor(std::vector<Route> routes, IngestOptions options = {});
  ~Ingestor();
  Ingestor(const Ingestor&) = delete;
  Ingestor& operator=(const Ingestor&) = delete;

  // Never throws for any payload: problems become an error message in the result.
  std::vector<Outgoing> handle(const std::string& topic, std::string_view payload);

  std::vector<std::string> topic_filters() const;
  // Values one reading must carry on a topic of route `i` (for --help and logs).
  int64_t values_per_reading(size_t route) const;
  const IngestOptions& options() const { return options_; }
  // received/results/errors/duplicates/buffered; IngestNode fills the rest.
  IngestStats stats() const;

 private:
  struct RouteState;
  std::vector<std::unique_ptr<RouteState>> routes_;
  IngestOptions options_;
  DuplicateWindow seen_;
  std::map<std::string, std::deque<std::vector<float>>> windows_;  // per topic
  std::atomic<uint64_t> received_{0}, results_{0}, errors_{0}, duplicates_{0}, buffered_{0};
};

struct NodeOptions {
  std::string host = "localhost";
  int port = 1883;
  std::string client_id;       // fixed: the broker keeps the session (and queued messages)
  int qos = 1;                 // subscriptions and publishes
  size_t max_pending = 10000;  // publishes awaiting PUBACK (< 65535, the MQTT id space)
  double backoff_min_s = 0.1;  // reconnect delay, doubled per failure up to backoff_max_s
  double backoff_max_s = 5.0;
  double drain_s = 2.0;                         // at stop: wait this long for pending PUBACKs
  std::function<void(const std::string&)> log;  // one line per event; default: stderr
};

class IngestNode {
 public:
  IngestNode(Ingestor& ingestor, NodeOptions options);
  // Connects (retrying with backoff), subscribes, processes messages until `stop` is true (checked
  // every 100 ms), then waits up to drain_s for pending PUBACKs and disconnects.
  void run(const std::atomic<bool>& stop);
  IngestStats stats() const;  // safe to call from another thread

 private:
  void publish(class Client& client, const Outgoing& out);
  void log(const std::string& line) const;
  Ingestor& ingestor_;
  NodeOptions options_;
  PendingPublishes pending_;  // only touched by the run thread
  std::atomic<uint64_t> published_{0}, pending_count_{0}, dropped_{0}, publish_failed_{0}, connects_{0}, reconnects_{0};
};

}  // namespace edgeopt::mqtt

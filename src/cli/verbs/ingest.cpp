// edgeopt ingest --broker HOST:PORT --sub TOPIC=MODEL.onnx ...: subscribe to sensor topics, run a
// model per reading (or per sliding window), publish results with QoS 1 (src/mqtt, docs/mqtt.md).
#include <unistd.h>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/verbs/verbs.h"
#include "mqtt/ingest.h"
#include "onnx/import.h"

namespace edgeopt::cli {

namespace {

struct Options {
  std::string broker;
  std::vector<std::string> subs;
  int64_t window = 0;
  std::string out_prefix = "edgeopt/out";
  std::string error_prefix = "edgeopt/errors";
  std::string client_id;
  int qos = 1;
  std::string features;
  size_t max_pending = 10000;
  size_t dedupe_window = 10000;
  size_t max_payload = 1 << 20;
  std::string stats_json;
};

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop = true; }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);)
    if (!item.empty()) out.push_back(item);
  return out;
}

// TOPIC=MODEL.onnx[,window=N]
mqtt::Route parse_route(const std::string& spec, int64_t default_window) {
  size_t eq = spec.find('=');
  EDGEOPT_CHECK_ARG(eq != std::string::npos && eq > 0 && eq + 1 < spec.size(),
                    "--sub '" + spec + "' needs the form TOPIC=MODEL.onnx[,window=N]");
  mqtt::Route r;
  r.topic_filter = spec.substr(0, eq);
  std::string model = spec.substr(eq + 1);
  r.window = default_window;
  if (size_t comma = model.rfind(",window="); comma != std::string::npos) {
    std::string n = model.substr(comma + 8);
    EDGEOPT_CHECK_ARG(!n.empty() && n.find_first_not_of("0123456789") == std::string::npos,
                      "--sub '" + spec + "': window=" + n + " is not a non-negative integer");
    r.window = std::stoll(n);
    model = model.substr(0, comma);
  }
  r.model_name = std::filesystem::path(model).stem().string();
  r.graph = onnx::load_model(model);
  return r;
}

std::string counters_line(const mqtt::IngestStats& s) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "counters: received=%llu results=%llu published=%llu errors=%llu duplicates=%llu buffered=%llu "
                "reconnects=%llu pending=%llu dropped=%llu publish_failed=%llu",
                (unsigned long long)s.received, (unsigned long long)s.results, (unsigned long long)s.published,
                (unsigned long long)s.errors, (unsigned long long)s.duplicates, (unsigned long long)s.buffered,
                (unsigned long long)s.reconnects, (unsigned long long)s.pending, (unsigned long long)s.dropped,
                (unsigned long long)s.publish_failed);
  return buf;
}

void run_ingest(const Options& o) {
  size_t colon = o.broker.rfind(':');
  EDGEOPT_CHECK_ARG(colon != std::string::npos && colon > 0,
                    "--broker '" + o.broker + "' needs the form HOST:PORT (e.g. localhost:1883)");
  mqtt::NodeOptions node;
  node.host = o.broker.substr(0, colon);
  std::string port = o.broker.substr(colon + 1);
  EDGEOPT_CHECK_ARG(!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos,
                    "--broker '" + o.broker + "': port '" + port + "' is not a number");
  node.port = std::stoi(port);
  node.qos = o.qos;
  node.max_pending = o.max_pending;
  node.client_id = o.client_id;
  if (node.client_id.empty()) {
    char host[256] = "host";
    gethostname(host, sizeof host - 1);
    node.client_id = std::string("edgeopt-ingest-") + host;
  }

  mqtt::IngestOptions io;
  io.out_prefix = o.out_prefix;
  io.error_prefix = o.error_prefix;
  io.dedupe_window = o.dedupe_window;
  io.decode.feature_names = split(o.features, ',');
  io.decode.max_payload_bytes = o.max_payload;
  std::vector<mqtt::Route> routes;
  for (const auto& spec : o.subs) routes.push_back(parse_route(spec, o.window));
  std::vector<std::string> names;
  std::vector<int64_t> windows;
  for (const auto& r : routes) {
    names.push_back(r.model_name);
    windows.push_back(r.window);
  }
  mqtt::Ingestor ingestor(std::move(routes), io);
  auto filters = ingestor.topic_filters();
  for (size_t i = 0; i < filters.size(); ++i)
    std::fprintf(stderr, "[ingest] %s -> model '%s' (%lld values per reading%s), results on %s/<topic>\n",
                 filters[i].c_str(), names[i].c_str(), (long long)ingestor.values_per_reading(i),
                 windows[i] ? (", window " + std::to_string(windows[i])).c_str() : "", o.out_prefix.c_str());

  mqtt::IngestNode ingest_node(ingestor, node);
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  ingest_node.run(g_stop);
  mqtt::IngestStats s = ingest_node.stats();
  std::printf("%s\n", counters_line(s).c_str());
  std::fflush(stdout);
  if (!o.stats_json.empty()) {
    nlohmann::json j = {{"received", s.received},
                        {"results", s.results},
                        {"published", s.published},
                        {"errors", s.errors},
                        {"duplicates", s.duplicates},
                        {"buffered", s.buffered},
                        {"reconnects", s.reconnects},
                        {"connects", s.connects},
                        {"pending", s.pending},
                        {"dropped", s.dropped},
                        {"publish_failed", s.publish_failed}};
    std::ofstream(o.stats_json) << j.dump(2) << "\n";
  }
}

}  // namespace

void add_ingest_verb(CLI::App& app) {
  auto o = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "ingest", "Subscribe to MQTT sensor topics, run a model per reading or sliding window, publish results (QoS 1)");
  sub->add_option("--broker", o->broker, "MQTT broker HOST:PORT")->required();
  sub->add_option("--sub", o->subs,
                  "TOPIC=MODEL.onnx[,window=N]: readings on TOPIC (wildcards + and # allowed) go to MODEL; "
                  "repeat for more topics")
      ->required();
  sub->add_option("--window", o->window,
                  "Default sliding window: run the model on the last N readings of each topic (input [1,N,F]); "
                  "0 = one reading is one whole input")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--out-prefix", o->out_prefix, "Results go to PREFIX/<input topic>")->capture_default_str();
  sub->add_option("--error-prefix", o->error_prefix, "Error replies go to PREFIX/<input topic>")->capture_default_str();
  sub->add_option("--client-id", o->client_id,
                  "Fixed MQTT client id: the broker keeps this session and its queued messages across restarts "
                  "(default edgeopt-ingest-<hostname>)");
  sub->add_option("--qos", o->qos, "QoS of subscriptions and result publishes")
      ->check(CLI::Range(0, 2))
      ->capture_default_str();
  sub->add_option("--features", o->features,
                  "NAME,NAME,...: the order of {\"features\": {...}} readings (model feature order)");
  sub->add_option("--max-pending", o->max_pending,
                  "Publishes awaiting PUBACK kept while the broker is away; beyond it results are dropped and counted")
      ->capture_default_str();
  sub->add_option("--dedupe-window", o->dedupe_window, "Reading ids remembered per (topic, id) to drop redeliveries")
      ->capture_default_str();
  sub->add_option("--max-payload", o->max_payload, "Largest accepted payload in bytes")->capture_default_str();
  sub->add_option("--stats-json", o->stats_json, "Write the counters as JSON here at exit");
  sub->footer(
      "Example:\n"
      "  edgeopt train --model env_lstm --data wsn-temperature --epochs 4 --out lstm.onnx   # input [N,24,2]\n"
      "  edgeopt ingest --broker localhost:1883 --sub 'sensors/+/env=lstm.onnx' --window 24 \\\n"
      "      --features temperature,humidity --client-id edge-1 --out-prefix city/forecast\n"
      "  mosquitto_pub -q 1 -t sensors/m1/env -m '{\"id\": \"m1-42\", \"values\": [-0.08, -0.44]}'\n"
      "  mosquitto_sub -q 1 -t 'city/forecast/#' -t 'edgeopt/errors/#'\n"
      "Readings: JSON {\"id\", \"values\": [...]} or {\"id\", \"features\": {...}}, or binary \"F32\\0\" + u16 LE id\n"
      "length + id + float32 LE values. Results: {\"id\", \"topic\", \"model\", \"latency_ms\", \"outputs\"}.\n"
      "Values are model inputs as trained (e.g. standardized: `edgeopt data` prints the statistics).\n"
      "Bad readings get {\"topic\", \"id\", \"error\"} on the error topic. Ctrl-C prints the counters.\n"
      "See docs/mqtt.md.");
  sub->callback([o] { run_ingest(*o); });
}

}  // namespace edgeopt::cli

#include "mqtt/ingest.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "mqtt/client.h"
#include "runtime/session.h"

namespace edgeopt::mqtt {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

}  // namespace

bool DuplicateWindow::seen(const std::string& key) {
  if (capacity_ == 0) return false;
  if (keys_.count(key)) return true;
  keys_.insert(key);
  order_.push_back(key);
  if (order_.size() > capacity_) {
    keys_.erase(order_.front());
    order_.pop_front();
  }
  return false;
}

bool PendingPublishes::admit() {
  if (mids_.size() < limit_) return true;
  ++dropped_;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Ingestor

struct Ingestor::RouteState {
  std::string filter;
  std::string model;
  int64_t window = 0;
  std::string input_name;
  Shape input_shape;  // what the model is fed (batch 1; window length filled in)
  int64_t values_per_reading = 0;
  std::unique_ptr<runtime::Session> session;
};

Ingestor::Ingestor(std::vector<Route> routes, IngestOptions options)
    : options_(std::move(options)), seen_(options_.dedupe_window) {
  EDGEOPT_CHECK_ARG(!routes.empty(), "ingest needs at least one topic=model route");
  for (auto& r : routes) {
    auto st = std::make_unique<RouteState>();
    st->filter = r.topic_filter;
    st->model = r.model_name;
    st->window = r.window;
    std::string where = "model '" + r.model_name + "' for topic '" + r.topic_filter + "'";
    EDGEOPT_CHECK_ARG(r.window >= 0, where + ": window must be >= 0, got " + std::to_string(r.window));
    EDGEOPT_CHECK_ARG(
        r.graph.inputs.size() == 1,
        where + ": ingest feeds models with exactly one input, this one has " + std::to_string(r.graph.inputs.size()));
    const ValueInfo& in = r.graph.inputs[0];
    EDGEOPT_CHECK_ARG(in.dtype == DType::kF32,
                      where + ": input '" + in.name + "' is " + dtype_name(in.dtype) + ", ingest feeds f32");
    EDGEOPT_CHECK_ARG(in.shape.rank() >= 1, where + ": input '" + in.name + "' has unknown rank or is a scalar");
    std::vector<int64_t> dims;
    for (size_t i = 0; i < in.shape.rank(); ++i) dims.push_back(in.shape[i]);
    if (dims[0] < 0) dims[0] = 1;  // the batch
    size_t first_value_dim = 1;
    if (r.window > 0) {
      EDGEOPT_CHECK_ARG(
          dims.size() >= 3 && dims[0] == 1,
          where + ": --window needs an input [batch, time, features...], got '" + in.name + "' " + in.shape.str());
      EDGEOPT_CHECK_ARG(dims[1] < 0 || dims[1] == r.window, where + ": window " + std::to_string(r.window) +
                                                                " but input '" + in.name + "' " + in.shape.str() +
                                                                " has " + std::to_string(dims[1]) + " time steps");
      dims[1] = r.window;
      first_value_dim = 2;
    } else if (dims.size() == 1) {
      first_value_dim = 0;  // no batch dim: the reading is the whole input
    }
    int64_t per = 1;
    for (size_t i = first_value_dim; i < dims.size(); ++i) {
      EDGEOPT_CHECK_ARG(dims[i] > 0, where + ": input '" + in.name + "' " + in.shape.str() + " has a symbolic dim " +
                                         std::to_string(i) + (r.window > 0 ? "" : " (for a time axis, pass a window)"));
      per *= dims[i];
    }
    st->input_name = in.name;
    st->input_shape = Shape(dims);
    st->values_per_reading = per;
    try {
      st->session = std::make_unique<runtime::Session>(std::move(r.graph));
    } catch (Error& e) {
      e.add_context(where);
      throw;
    }
    routes_.push_back(std::move(st));
  }
}

Ingestor::~Ingestor() = default;

std::vector<std::string> Ingestor::topic_filters() const {
  std::vector<std::string> f;
  for (const auto& r : routes_) f.push_back(r->filter);
  return f;
}

int64_t Ingestor::values_per_reading(size_t route) const { return routes_.at(route)->values_per_reading; }

IngestStats Ingestor::stats() const {
  IngestStats s;
  s.received = received_;
  s.results = results_;
  s.errors = errors_;
  s.duplicates = duplicates_;
  s.buffered = buffered_;
  return s;
}

std::vector<Outgoing> Ingestor::handle(const std::string& topic, std::string_view payload) {
  auto t0 = Clock::now();
  ++received_;
  std::string id;
  auto error = [&](const std::string& reason) {
    ++errors_;
    return std::vector<Outgoing>{
        {options_.error_prefix + "/" + topic, encode_error(topic, id, reason, payload.size()), true}};
  };
  try {
    RouteState* route = nullptr;
    for (auto& r : routes_)
      if (Client::topic_matches(r->filter, topic)) {
        route = r.get();
        break;
      }
    if (!route) return error("no model is subscribed to topic '" + topic + "'");
    Reading reading = decode_reading(payload, options_.decode);
    id = reading.id;
    // The topic is part of the key: two sensors may number their readings alike.
    if (reading.has_id && seen_.seen(topic + '\n' + reading.id)) {
      ++duplicates_;
      return {};
    }
    if (static_cast<int64_t>(reading.values.size()) != route->values_per_reading)
      return error("reading has " + std::to_string(reading.values.size()) + " values, model '" + route->model +
                   "' needs " + std::to_string(route->values_per_reading) + " per reading (input '" +
                   route->input_name + "' " + route->input_shape.str() + (route->window > 0 ? ", one time step" : "") +
                   ")");
    Tensor x(DType::kF32, route->input_shape);
    float* dst = x.data<float>();
    if (route->window > 0) {
      auto it = windows_.find(topic);
      if (it == windows_.end()) {
        if (windows_.size() >= options_.max_topics)
          return error("too many sensor topics with a window (limit " + std::to_string(options_.max_topics) + ")");
        it = windows_.emplace(topic, std::deque<std::vector<float>>{}).first;
      }
      auto& w = it->second;
      w.push_back(std::move(reading.values));
      if (static_cast<int64_t>(w.size()) > route->window) w.pop_front();
      if (static_cast<int64_t>(w.size()) < route->window) {
        ++buffered_;
        return {};
      }
      for (const auto& step : w) dst = std::copy(step.begin(), step.end(), dst);
    } else {
      std::copy(reading.values.begin(), reading.values.end(), dst);
    }
    ResultMessage result;
    result.outputs = route->session->run({{route->input_name, x}});
    result.id = id;
    result.topic = topic;
    result.model = route->model;
    result.latency_ms = ms_since(t0);
    ++results_;
    return {{options_.out_prefix + "/" + topic, encode_result(result), false}};
  } catch (const std::exception& e) {
    return error(e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// IngestNode

IngestNode::IngestNode(Ingestor& ingestor, NodeOptions options)
    : ingestor_(ingestor), options_(std::move(options)), pending_(options_.max_pending) {
  EDGEOPT_CHECK_ARG(!options_.client_id.empty(), "ingest needs a fixed --client-id for its persistent session");
  EDGEOPT_CHECK_ARG(options_.qos >= 0 && options_.qos <= 2,
                    "--qos must be 0, 1 or 2, got " + std::to_string(options_.qos));
  EDGEOPT_CHECK_ARG(options_.max_pending >= 1 && options_.max_pending < 65535,
                    "max pending publishes must be in [1, 65534], got " + std::to_string(options_.max_pending));
  EDGEOPT_CHECK_ARG(options_.port > 0 && options_.port < 65536, "broker port must be in [1, 65535]");
}

void IngestNode::log(const std::string& line) const {
  if (options_.log) return options_.log(line);
  std::time_t now = std::time(nullptr);
  char ts[32];
  std::strftime(ts, sizeof ts, "%H:%M:%S", std::gmtime(&now));
  std::fprintf(stderr, "[ingest %s] %s\n", ts, line.c_str());
}

IngestStats IngestNode::stats() const {
  IngestStats s = ingestor_.stats();
  s.published = published_;
  s.pending = pending_count_;
  s.dropped = dropped_;
  s.publish_failed = publish_failed_;
  s.connects = connects_;
  s.reconnects = reconnects_;
  return s;
}

void IngestNode::publish(Client& client, const Outgoing& out) {
  if (options_.qos > 0 && !pending_.admit()) {
    // The broker has not acknowledged max_pending publishes (it is down or slow): keeping more
    // would grow memory without bound on a device that may stay offline for hours.
    dropped_ = pending_.dropped();
    if (dropped_ % 1000 == 1)
      log("error: " + std::to_string(pending_.size()) + " publishes await PUBACK (limit " +
          std::to_string(options_.max_pending) + "); dropping the message for " + out.topic +
          " (dropped so far: " + std::to_string(dropped_.load()) + ")");
    return;
  }
  int mid = client.publish(out.topic, out.payload, options_.qos);
  if (mid < 0) {
    ++publish_failed_;
    log("error: publish to " + out.topic + " failed: " + client.last_error());
    return;
  }
  if (options_.qos == 0) {
    ++published_;
    return;
  }
  pending_.sent(mid);
  pending_count_ = pending_.size();
}

void IngestNode::run(const std::atomic<bool>& stop) {
  Client client({.client_id = options_.client_id, .clean_session = false});
  std::string where = options_.host + ":" + std::to_string(options_.port);
  double backoff = options_.backoff_min_s;
  int failed_attempts = 0;
  bool opened_once = false;

  client.on_connect = [&](bool session_present) {
    if (connects_++ > 0) ++reconnects_;
    log(std::string(connects_ > 1 ? "reconnected to " : "connected to ") + where + " as '" + options_.client_id +
        "' (session present: " + (session_present ? "yes" : "no") +
        ", awaiting PUBACK: " + std::to_string(pending_.size()) + ")");
    backoff = options_.backoff_min_s;
    failed_attempts = 0;
    // The broker keeps subscriptions of a persistent session; subscribing again is harmless and
    // covers a broker that lost its state.
    for (const auto& f : ingestor_.topic_filters())
      if (!client.subscribe(f, options_.qos)) log("error: " + client.last_error() + " (" + f + ")");
  };
  client.on_connect_refused = [&](const std::string& reason) { log("broker " + where + " refused: " + reason); };
  client.on_message = [&](const std::string& topic, std::string_view payload, bool) {
    try {
      for (const auto& out : ingestor_.handle(topic, payload)) publish(client, out);
    } catch (const std::exception& e) {  // handle() reports bad input itself; this is out of memory
      log(std::string("internal error on ") + topic + ": " + e.what());
    }
  };
  client.on_publish = [&](int mid) {
    if (pending_.acked(mid)) {
      ++published_;
      pending_count_ = pending_.size();
    }
  };

  auto sleep_for = [&](double seconds) {
    auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (!stop && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };

  while (!stop) {
    if (!client.socket_open()) {
      bool ok = opened_once ? client.reconnect() : client.connect(options_.host, options_.port);
      if (!ok) {
        ++failed_attempts;
        if (failed_attempts <= 3 || failed_attempts % 10 == 0)
          log("cannot reach broker " + where + " (" + client.last_error() + "), attempt " +
              std::to_string(failed_attempts) + ", retrying in " + std::to_string(backoff).substr(0, 4) + " s");
        sleep_for(backoff);
        backoff = std::min(backoff * 2, options_.backoff_max_s);
        continue;
      }
      opened_once = true;
    }
    if (!client.loop(100)) {
      log(client.last_error() + " (broker " + where + "); " + std::to_string(pending_.size()) +
          " publishes kept for resend");
    }
  }

  // Let outstanding PUBACKs arrive so a clean stop loses nothing that was already computed.
  auto until = Clock::now() + std::chrono::duration<double>(options_.drain_s);
  while (pending_.size() > 0 && client.connected() && Clock::now() < until) client.loop(50);
  if (pending_.size() > 0) log(std::to_string(pending_.size()) + " publishes still await PUBACK at exit");
  client.disconnect();
}

}  // namespace edgeopt::mqtt

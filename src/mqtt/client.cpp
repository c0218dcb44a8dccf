#include "mqtt/client.h"

#include <cerrno>
#include <cstring>

#include <mosquitto.h>

#include "core/error.h"

namespace edgeopt::mqtt {

namespace {

// mosquitto_lib_init/cleanup once per process, the first Client triggers it.
struct LibInit {
  LibInit() { mosquitto_lib_init(); }
  ~LibInit() { mosquitto_lib_cleanup(); }
};

// `err`: errno right after the failing call (callbacks may have changed errno since).
std::string rc_text(int rc, int err) {
  if (rc == MOSQ_ERR_ERRNO) return err ? std::strerror(err) : "connection closed by the broker";
  return mosquitto_strerror(rc);
}

}  // namespace

Client::Client(ClientOptions options) : options_(std::move(options)) {
  static LibInit lib;
  EDGEOPT_CHECK_ARG(options_.clean_session || !options_.client_id.empty(),
                    "a persistent MQTT session (clean_session=false) needs a fixed client id");
  mosq_ =
      mosquitto_new(options_.client_id.empty() ? nullptr : options_.client_id.c_str(), options_.clean_session, this);
  if (!mosq_) throw_error(ErrorCode::kResourceExhausted, "mosquitto_new failed: " + std::string(std::strerror(errno)));
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_max_inflight_messages_set(mosq_, static_cast<unsigned>(options_.max_inflight));
  mosquitto_connect_with_flags_callback_set(mosq_, &Client::connect_cb);
  mosquitto_disconnect_callback_set(mosq_, &Client::disconnect_cb);
  mosquitto_message_callback_set(mosq_, &Client::message_cb);
  mosquitto_publish_callback_set(mosq_, &Client::publish_cb);
}

Client::~Client() {
  if (socket_open_) mosquitto_disconnect(mosq_);
  mosquitto_destroy(mosq_);
}

bool Client::check(int rc, const char* what) {
  const int err = errno;
  if (rc == MOSQ_ERR_SUCCESS) return true;
  last_error_ = std::string(what) + ": " + rc_text(rc, err);
  return false;
}

bool Client::connect(const std::string& host, int port) {
  socket_open_ = check(mosquitto_connect(mosq_, host.c_str(), port, options_.keepalive_s), "connect");
  return socket_open_;
}

bool Client::reconnect() {
  socket_open_ = check(mosquitto_reconnect(mosq_), "reconnect");
  return socket_open_;
}

bool Client::loop(int timeout_ms) {
  if (!socket_open_) {
    last_error_ = "not connected";
    return false;
  }
  errno = 0;
  int rc = mosquitto_loop(mosq_, timeout_ms, 1);
  if (rc == MOSQ_ERR_ERRNO && errno == EINTR) return true;  // a signal (e.g. SIGINT) woke select()
  if (check(rc, "connection lost")) return true;
  socket_open_ = false;
  connected_ = false;
  return false;
}

void Client::disconnect() {
  if (socket_open_) {
    mosquitto_disconnect(mosq_);
    // One more pass sends the DISCONNECT packet and closes the socket.
    mosquitto_loop(mosq_, 50, 1);
  }
  socket_open_ = false;
  connected_ = false;
}

bool Client::subscribe(const std::string& topic_filter, int qos) {
  return check(mosquitto_subscribe(mosq_, nullptr, topic_filter.c_str(), qos), "subscribe");
}

int Client::publish(const std::string& topic, std::string_view payload, int qos) {
  int mid = 0;
  int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()), payload.data(), qos, false);
  // For QoS > 0 libmosquitto queues the message before sending it: a send failure (no connection,
  // connection lost) leaves it queued for the resend after the next CONNACK.
  bool queued = rc == MOSQ_ERR_SUCCESS ||
                (qos > 0 && (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO));
  if (queued) return mid;
  check(rc, "publish");
  return -1;
}

bool Client::topic_matches(const std::string& filter, const std::string& topic) {
  bool result = false;
  return mosquitto_topic_matches_sub(filter.c_str(), topic.c_str(), &result) == MOSQ_ERR_SUCCESS && result;
}

// The callbacks run inside libmosquitto (C): no exception may cross them.
template <typename F>
void guarded(std::string& error, F&& f) noexcept {
  try {
    f();
  } catch (const std::exception& e) {
    error = std::string("callback threw: ") + e.what();
  } catch (...) {
    error = "callback threw a non-std exception";
  }
}

void Client::connect_cb(struct mosquitto*, void* self, int rc, int flags) {
  auto* c = static_cast<Client*>(self);
  if (rc == 0) {
    c->connected_ = true;
    if (c->on_connect) guarded(c->last_error_, [&] { c->on_connect((flags & 1) != 0); });
  } else if (c->on_connect_refused) {
    guarded(c->last_error_, [&] { c->on_connect_refused(mosquitto_connack_string(rc)); });
  }
}

void Client::disconnect_cb(struct mosquitto*, void* self, int rc) {
  auto* c = static_cast<Client*>(self);
  c->connected_ = false;
  if (rc != 0 && c->on_disconnect) guarded(c->last_error_, [&] { c->on_disconnect(rc_text(rc, errno)); });
}

void Client::message_cb(struct mosquitto*, void* self, const struct mosquitto_message* m) {
  auto* c = static_cast<Client*>(self);
  if (!c->on_message) return;
  std::string_view payload(static_cast<const char*>(m->payload), m->payload ? static_cast<size_t>(m->payloadlen) : 0);
  guarded(c->last_error_, [&] { c->on_message(m->topic, payload, m->retain); });
}

void Client::publish_cb(struct mosquitto*, void* self, int mid) {
  auto* c = static_cast<Client*>(self);
  if (c->on_publish) guarded(c->last_error_, [&] { c->on_publish(mid); });
}

}  // namespace edgeopt::mqtt

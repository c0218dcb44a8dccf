// mqtt::Client: a small RAII wrapper over one libmosquitto client (MQTT 3.1.1), driven from the
// caller's thread: nothing runs in the background, every callback fires inside loop().
//
//   mqtt::Client c({.client_id = "edge-1", .clean_session = false});
//   c.on_connect = [&](bool session_present) { c.subscribe("sensors/#", 1); };
//   c.on_message = [&](const std::string& topic, std::string_view payload, bool retained) {...};
//   c.on_publish = [&](int mid) { /* PUBACK for a QoS-1 publish */ };
//   c.connect("localhost", 1883);            // TCP connect; CONNACK arrives in a later loop()
//   while (running) if (!c.loop(100)) { /* lost: call c.reconnect() with a backoff */ }
//
// QoS-1 publishes are kept by libmosquitto until their PUBACK, also across reconnect() (they are
// resent with the DUP flag after the next CONNACK), so publish() succeeds while disconnected; it
// returns the message id, or -1 (with last_error()) when libmosquitto refused the message.
// Incoming QoS-1 messages are acknowledged by libmosquitto before on_message runs.
// Callbacks must not throw (they run inside libmosquitto's C code); an escaping exception is
// caught, and its message kept in last_error(). Not thread-safe: use a Client from one thread.
#pragma once
#include <functional>
#include <string>
#include <string_view>

struct mosquitto;
struct mosquitto_message;

namespace edgeopt::mqtt {

struct ClientOptions {
  std::string client_id;  // fixed id: the broker keeps this client's session (clean_session=false)
  bool clean_session = false;
  int keepalive_s = 10;
  int max_inflight = 20;  // QoS-1 publishes awaiting PUBACK; more wait in libmosquitto's queue
};

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // TCP connect (blocking, short). Returns false with last_error() on failure (broker down...).
  bool connect(const std::string& host, int port);
  // Reconnects to the same host/port, keeping queued QoS-1 publishes. false with last_error().
  bool reconnect();
  // Network I/O for up to timeout_ms; fires callbacks. false when the connection is (or was) lost.
  bool loop(int timeout_ms);
  void disconnect();

  bool subscribe(const std::string& topic_filter, int qos);
  int publish(const std::string& topic, std::string_view payload, int qos);

  bool connected() const { return connected_; }  // CONNACK accepted and not lost since
  bool socket_open() const { return socket_open_; }
  const std::string& last_error() const { return last_error_; }

  std::function<void(bool session_present)> on_connect;
  std::function<void(const std::string& reason)> on_connect_refused;
  std::function<void(const std::string& reason)> on_disconnect;
  std::function<void(const std::string& topic, std::string_view payload, bool retained)> on_message;
  std::function<void(int mid)> on_publish;

  // True when `topic` matches the subscription filter (MQTT wildcards + and #).
  static bool topic_matches(const std::string& filter, const std::string& topic);

 private:
  static void connect_cb(struct mosquitto*, void* self, int rc, int flags);
  static void disconnect_cb(struct mosquitto*, void* self, int rc);
  static void message_cb(struct mosquitto*, void* self, const struct mosquitto_message* m);
  static void publish_cb(struct mosquitto*, void* self, int mid);
  bool check(int rc, const char* what);

  ClientOptions options_;
  struct mosquitto* mosq_ = nullptr;
  bool connected_ = false;
  bool socket_open_ = false;
  std::string last_error_;
};

}  // namespace edgeopt::mqtt

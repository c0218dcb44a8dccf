// The two transports of serve::Server (internal to src/serve): each translates its wire format to
// Server::infer / ModelRepository calls and back, and maps ServeError to its status codes.
#pragma once
#include <memory>
#include <string>
#include <thread>

namespace edgeopt::serve {

class Server;

class HttpFrontend {
 public:
  explicit HttpFrontend(Server& server);
  ~HttpFrontend();
  // Binds (port 0: any free port) and serves on a background thread; returns the bound port.
  int start(const std::string& host, int port);
  void stop();  // stops listening; in-flight requests finish first

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class GrpcFrontend {
 public:
  explicit GrpcFrontend(Server& server);
  ~GrpcFrontend();
  int start(const std::string& host, int port);
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeopt::serve

// edgeopt::Error: the one exception type, with a canonical code and layered context.
//
// Each layer adds what it owns: the op says the rule and the values, the session adds the node
// name and op type, the ONNX importer adds the file path, the CLI prints one line and exits 1.
//
//   throw Error(ErrorCode::kInvalidArgument, "input W has shape [64,3,7,7], group=2 needs ...");
//   catch (Error& e) { e.add_context("node 'conv1' (Conv)"); throw; }
#pragma once
#include <exception>
#include <string>
#include <vector>

namespace edgeopt {

enum class ErrorCode {
  kInvalidArgument,     // bad model, attribute, input (HTTP 400)
  kNotFound,            // missing file, model, tensor (404)
  kFailedPrecondition,  // e.g. session not prepared
  kUnimplemented,       // op / opset / dtype not supported
  kResourceExhausted,   // limits, queues
  kUnavailable,         // remote side down
  kInternal,            // a bug
};

const char* error_code_name(ErrorCode code);

class Error : public std::exception {
 public:
  Error(ErrorCode code, std::string message);
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // Outermost context first: "file 'm.onnx': node 'conv1' (Conv): <message>".
  Error& add_context(std::string ctx);
  const char* what() const noexcept override { return full_.c_str(); }

 private:
  void rebuild();
  ErrorCode code_;
  std::string message_;
  std::vector<std::string> context_;  // innermost first
  std::string full_;
};

[[noreturn]] void throw_error(ErrorCode code, std::string message);

}  // namespace edgeopt

// Checks user-controlled conditions (never programmer errors); the message is only built on failure.
#define EDGEOPT_CHECK(cond, code, msg)                                 \
  do {                                                                 \
    if (!(cond)) ::edgeopt::throw_error((code), (msg));                \
  } while (0)
#define EDGEOPT_CHECK_ARG(cond, msg) EDGEOPT_CHECK(cond, ::edgeopt::ErrorCode::kInvalidArgument, msg)

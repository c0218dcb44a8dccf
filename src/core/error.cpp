#include "core/error.h"

namespace edgeopt {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kNotFound: return "NotFound";
    case ErrorCode::kFailedPrecondition: return "FailedPrecondition";
    case ErrorCode::kUnimplemented: return "Unimplemented";
    case ErrorCode::kResourceExhausted: return "ResourceExhausted";
    case ErrorCode::kUnavailable: return "Unavailable";
    case ErrorCode::kInternal: return "Internal";
  }
  return "Unknown";
}

Error::Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {
  rebuild();
}

Error& Error::add_context(std::string ctx) {
  context_.push_back(std::move(ctx));
  rebuild();
  return *this;
}

void Error::rebuild() {
  full_ = error_code_name(code_);
  full_ += ": ";
  for (auto it = context_.rbegin(); it != context_.rend(); ++it) {
    full_ += *it;
    full_ += ": ";
  }
  full_ += message_;
}

void throw_error(ErrorCode code, std::string message) { throw Error(code, std::move(message)); }

}  // namespace edgeopt

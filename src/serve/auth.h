// serve::TokenStore: bearer-token authentication with two roles for `edgeopt serve --auth-tokens FILE`.
//
//   FILE (one token per line; '#' starts a comment; blank lines are skipped):
//     # role   token
//     infer    3f9c1e0b7a5d4c2e9f8a6b1d0c3e5f7a
//     admin    b5e2d8f1a4c7e0b3d6f9a2c5e8b1d4f7
//
//   TokenStore tokens = TokenStore::load_file("tokens.txt");   // throws edgeopt::Error naming file:line
//   AuthDecision d = tokens.authorize(req.get_header_value("Authorization"), Role::kAdmin);
//   if (d.outcome != AuthOutcome::kAllowed) -> 401 (kUnauthenticated) or 403 (kForbidden), d.message
//
// Roles: `infer` may call inference and metadata endpoints; `admin` may call everything, including
// the repository extension (load, unload, index). The file must not be readable or writable by
// group or others (mode 0600 or 0400; like ssh keys), and each token has 16..512 printable,
// non-space ASCII characters; duplicates are refused. Tokens are kept only as SHA-256 digests and a
// presented token is compared with every stored digest by CRYPTO_memcmp, without an early exit, so
// the time taken does not depend on which token (or how much of one) matched. Tokens never appear in
// messages or logs.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgeopt::serve {

enum class Role { kNone = 0, kInfer = 1, kAdmin = 2 };  // ordered: admin may do what infer may
const char* role_name(Role r);                            // "none", "infer", "admin"

enum class AuthOutcome { kAllowed, kUnauthenticated, kForbidden };

struct AuthDecision {
  AuthOutcome outcome = AuthOutcome::kAllowed;
  std::string message;  // why refused (never contains the token)
};

class TokenStore {
 public:
  static TokenStore load_file(const std::string& path);
  // The same format from text (`path` only names it in errors); skips the permission check.
  static TokenStore parse(std::string_view text, const std::string& path);

  // The role of a raw token, kNone when unknown. Constant time over the stored tokens.
  Role role_of(std::string_view token) const;
  // `authorization`: an HTTP Authorization header / gRPC "authorization" metadata value,
  // "Bearer <token>" (scheme case-insensitive). `needed`: kNone = open endpoint.
  AuthDecision authorize(std::string_view authorization, Role needed) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<uint8_t, 32> digest;
    Role role;
  };
  std::vector<Entry> entries_;
};

}  // namespace edgeopt::serve

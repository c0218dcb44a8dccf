#include "serve/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace edgeopt::serve {

namespace {

constexpr size_t kMinTokenChars = 16;
constexpr size_t kMaxTokenChars = 512;

std::array<uint8_t, 32> sha256(std::string_view s) {
  std::array<uint8_t, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::kNone: return "none";
    case Role::kInfer: return "infer";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

TokenStore TokenStore::load_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw_error(ErrorCode::kNotFound, "auth tokens '" + path + "': cannot open the file");
  if (!S_ISREG(st.st_mode)) throw_error(ErrorCode::kInvalidArgument, "auth tokens '" + path + "' is not a regular file");
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw_error(ErrorCode::kInvalidArgument, "auth tokens '" + path + "': mode " + mode +
                                                 " lets group or others access it; tokens are secrets (chmod 600 '" +
                                                 path + "')");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(ErrorCode::kNotFound, "auth tokens '" + path + "': cannot open the file");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), path);
}

TokenStore TokenStore::parse(std::string_view text, const std::string& path) {
  TokenStore store;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    const std::string where = "auth tokens '" + path + "' line " + std::to_string(line_no);
    const size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    line = trim(line);
    if (line.empty()) continue;
    size_t sp = 0;
    while (sp < line.size() && !is_space(line[sp])) ++sp;
    const std::string_view role_text = line.substr(0, sp);
    const std::string_view token = trim(line.substr(sp));
    Role role = Role::kNone;
    if (role_text == "infer") role = Role::kInfer;
    else if (role_text == "admin") role = Role::kAdmin;
    else
      throw_error(ErrorCode::kInvalidArgument,
                  where + ": unknown role '" + std::string(role_text) + "' (expected 'infer' or 'admin', then the token)");
    if (token.empty()) throw_error(ErrorCode::kInvalidArgument, where + ": role '" + std::string(role_text) + "' has no token");
    for (char c : token)
      if (c <= ' ' || c > '~')
        throw_error(ErrorCode::kInvalidArgument,
                    where + ": the token has a space or a non-printable/non-ASCII character (one token per line)");
    if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars)
      throw_error(ErrorCode::kInvalidArgument, where + ": the token has " + std::to_string(token.size()) +
                                                   " characters; use " + std::to_string(kMinTokenChars) + ".." +
                                                   std::to_string(kMaxTokenChars) + " (e.g. openssl rand -hex 32)");
    Entry e{sha256(token), role};
    for (const Entry& o : store.entries_)
      if (o.digest == e.digest) throw_error(ErrorCode::kInvalidArgument, where + ": the token is listed twice");
    store.entries_.push_back(e);
  }
  if (store.entries_.empty())
    throw_error(ErrorCode::kInvalidArgument, "auth tokens '" + path + "' lists no token (lines: 'infer TOKEN' or 'admin TOKEN')");
  return store;
}

Role TokenStore::role_of(std::string_view token) const {
  // Hashing first makes every comparison 32 bytes whatever the token's length; the loop visits
  // every entry and selects the role without a data-dependent branch.
  const std::array<uint8_t, 32> d = sha256(token);
  int role = 0;
  for (const Entry& e : entries_) {
    const int match = CRYPTO_memcmp(e.digest.data(), d.data(), d.size()) == 0;
    role |= -match & static_cast<int>(e.role);
  }
  return static_cast<Role>(role);
}

AuthDecision TokenStore::authorize(std::string_view authorization, Role needed) const {
  if (needed == Role::kNone) return {};
  authorization = trim(authorization);
  if (authorization.empty())
    return {AuthOutcome::kUnauthenticated, "authentication required: send 'Authorization: Bearer <token>'"};
  const size_t sp = authorization.find(' ');
  if (sp == std::string_view::npos || !iequals(authorization.substr(0, sp), "Bearer"))
    return {AuthOutcome::kUnauthenticated, "the Authorization value must be 'Bearer <token>'"};
  const Role role = role_of(trim(authorization.substr(sp + 1)));
  if (role == Role::kNone) return {AuthOutcome::kUnauthenticated, "the bearer token is not valid"};
  if (static_cast<int>(role) < static_cast<int>(needed))
    return {AuthOutcome::kForbidden, std::string("this endpoint needs the '") + role_name(needed) +
                                         "' role; the token has '" + role_name(role) + "'"};
  return {};
}

}  // namespace edgeopt::serve

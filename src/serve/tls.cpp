#include "serve/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace edgeopt::serve {

namespace {

std::string read_file(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(ErrorCode::kNotFound, std::string(what) + " '" + path + "': cannot open the file");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "no PEM block of that kind";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
Bio bio_of(const std::string& pem) { return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free); }

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

// The certificates of a PEM text; throws naming the file when there is none or one is broken.
std::vector<X509Ptr> certificates(const std::string& pem, const std::string& path, const char* what) {
  ERR_clear_error();
  Bio bio = bio_of(pem);
  std::vector<X509Ptr> out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x, &X509_free);
  // The loop ends on "no start line" after the last certificate; anything else is a broken one.
  const unsigned long e = ERR_peek_last_error();
  if (out.empty() || (e && ERR_GET_REASON(e) != PEM_R_NO_START_LINE))
    throw_error(ErrorCode::kInvalidArgument, std::string(what) + " '" + path + "' holds no valid PEM certificate" +
                                                 (out.empty() ? "" : " after the first " + std::to_string(out.size())) +
                                                 ": " + openssl_error());
  ERR_clear_error();
  return out;
}

}  // namespace

TlsFiles load_tls_files(const std::string& cert, const std::string& key, const std::string& client_ca) {
  if (cert.empty() != key.empty())
    throw_error(ErrorCode::kInvalidArgument, "TLS needs both --tls-cert and --tls-key (got only " +
                                                 std::string(cert.empty() ? "--tls-key" : "--tls-cert") + ")");
  if (cert.empty() && !client_ca.empty())
    throw_error(ErrorCode::kInvalidArgument, "--tls-client-ca needs --tls-cert and --tls-key (mTLS runs over TLS)");
  TlsFiles t;
  t.cert_path = cert;
  t.key_path = key;
  t.client_ca_path = client_ca;
  if (cert.empty()) return t;
  t.cert_pem = read_file(cert, "TLS certificate");
  t.key_pem = read_file(key, "TLS private key");
  auto chain = certificates(t.cert_pem, cert, "TLS certificate");
  ERR_clear_error();
  Bio kb = bio_of(t.key_pem);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr),
                                                           &EVP_PKEY_free);
  if (!pkey)
    throw_error(ErrorCode::kInvalidArgument,
                "TLS private key '" + key + "' holds no unencrypted PEM private key: " + openssl_error());
  if (X509_check_private_key(chain.front().get(), pkey.get()) != 1)
    throw_error(ErrorCode::kInvalidArgument, "TLS private key '" + key + "' does not belong to the certificate '" + cert +
                                                 "': " + openssl_error());
  if (!client_ca.empty()) {
    t.client_ca_pem = read_file(client_ca, "TLS client CA");
    certificates(t.client_ca_pem, client_ca, "TLS client CA");
  }
  return t;
}

}  // namespace edgeopt::serve

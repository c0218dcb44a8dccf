// serve::TlsFiles: the PEM files of `edgeopt serve --tls-cert FILE --tls-key FILE [--tls-client-ca FILE]`,
// read and checked once at start so a bad file fails the start with its name, not the first
// handshake.
//
//   TlsFiles t = load_tls_files("server.crt", "server.key", "clients-ca.crt");   // throws edgeopt::Error
//   t.cert_pem, t.key_pem, t.client_ca_pem ("" = no client certificates asked for)
//
// Checks: each file can be read and holds PEM of the right kind (a certificate chain, a private
// key, one or more CA certificates), and the private key belongs to the first certificate.
// Only the server links this (OpenSSL); the runtime library has no TLS code.
#pragma once
#include <string>

namespace edgeopt::serve {

struct TlsFiles {
  std::string cert_path, key_path, client_ca_path;
  std::string cert_pem, key_pem, client_ca_pem;
};

TlsFiles load_tls_files(const std::string& cert, const std::string& key, const std::string& client_ca);

}  // namespace edgeopt::serve

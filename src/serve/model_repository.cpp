#include "serve/model_repository.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include <openssl/sha.h>

#include "onnx/import.h"

namespace edgeopt::serve {

namespace fs = std::filesystem;

namespace {

int64_t mtime_of(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  if (ec) return -1;
  return static_cast<int64_t>(t.time_since_epoch().count());
}

// One path component of printable characters: what a request may name. Anything else could
// address another folder ("..", "a/b", "/etc") or alias one (a NUL cuts the path short in open()).
bool is_model_name(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 255) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return false;
  return true;
}

std::string hex(const unsigned char* d, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += k[d[i] >> 4];
    out += k[d[i] & 15];
  }
  return out;
}

// SHA256SUMS in `sha256sum` format: "<64 hex> <space or *><path relative to the model folder>".
std::map<std::string, std::string> parse_manifest(const std::string& real_path, const std::string& shown) {
  std::ifstream f(real_path, std::ios::binary);
  if (!f) throw_error(ErrorCode::kNotFound, "manifest '" + shown + "' cannot be read");
  std::map<std::string, std::string> out;
  std::string line;
  int no = 0;
  while (std::getline(f, line)) {
    ++no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::string where = "manifest '" + shown + "' line " + std::to_string(no);
    if (line.size() < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*'))
      throw_error(ErrorCode::kInvalidArgument, where + ": expected '<64 hex digits>  <version>/<file>' (sha256sum's format)");
    std::string digest = line.substr(0, 64);
    for (char& c : digest) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (!std::isxdigit(static_cast<unsigned char>(c))) throw_error(ErrorCode::kInvalidArgument, where + ": the digest is not hex");
    }
    std::string path = line.substr(66);
    if (path.rfind("./", 0) == 0) path = path.substr(2);
    out[path] = digest;
  }
  return out;
}

// Reads a model file (already resolved inside the repository) after checking its size.
std::string read_model_file(const std::string& real, const std::string& shown, uint64_t max_bytes) {
  std::error_code ec;
  const uint64_t size = fs::file_size(real, ec);
  if (ec) throw_error(ErrorCode::kNotFound, "model file '" + shown + "' cannot be read: " + ec.message());
  if (max_bytes && size > max_bytes)
    throw_error(ErrorCode::kInvalidArgument, "model file '" + shown + "' has " + std::to_string(size) +
                                                 " bytes, over the limit of " + std::to_string(max_bytes) + " (--max-model-mb)");
  std::ifstream f(real, std::ios::binary);
  if (!f) throw_error(ErrorCode::kNotFound, "model file '" + shown + "' cannot be opened");
  std::string bytes(static_cast<size_t>(size), '\0');
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(f.gcount()) != size)
    throw_error(ErrorCode::kUnavailable, "model file '" + shown + "' changed while being read (write versions atomically)");
  return bytes;
}

bool is_version_name(const std::string& s) {
  if (s.empty() || s.size() > 18 || s[0] == '0') return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

ModelRepository::ModelRepository(std::string dir, RepositoryOptions options) : dir_(std::move(dir)), options_(std::move(options)) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec))
    throw_error(ErrorCode::kNotFound, "model repository '" + dir_ + "' is not a directory (expected DIR/<model>/<version>/model.onnx)");
  root_ = fs::canonical(dir_, ec).string();
  if (ec) throw_error(ErrorCode::kNotFound, "model repository '" + dir_ + "' cannot be resolved: " + ec.message());
}

std::string ModelRepository::contained(const std::string& p) const {
  std::error_code ec;
  const std::string real = fs::canonical(p, ec).string();
  if (ec) throw_error(ErrorCode::kNotFound, "'" + p + "' cannot be resolved: " + ec.message());
  if (real != root_ && real.rfind(root_ + "/", 0) != 0)
    throw_error(ErrorCode::kInvalidArgument, "'" + p + "' resolves outside the model repository '" + dir_ +
                                                 "' (a symlink out of it?); refused without opening it");
  return real;
}

ModelRepository::~ModelRepository() { shutdown(); }

void ModelRepository::log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

int ModelRepository::poll() {
  std::lock_guard<std::mutex> load_lock(load_mu_);
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.is_directory() && e.path().filename().string()[0] != '.' && is_model_name(e.path().filename().string()))
      names.insert(e.path().filename().string());
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [n, st] : models_)
      if (!names.count(n) && st.present) names.insert(n);  // removed folders: sync drops them
  }
  int changes = 0;
  for (const auto& n : names) {
    bool skip = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = models_.find(n);
      skip = shut_down_ || (it != models_.end() && it->second.unloaded);
    }
    if (!skip) changes += sync_model(n, false);
  }
  return changes;
}

void ModelRepository::load(const std::string& model) {
  std::lock_guard<std::mutex> load_lock(load_mu_);
  if (!is_model_name(model))
    throw ServeError(Status::kBadRequest, "'" + model + "' is not a model name (one folder name of the repository: no '/', '\\\\', '..' or control characters)");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) throw ServeError(Status::kUnavailable, "the server is shutting down");
    models_[model].unloaded = false;
  }
  sync_model(model, true);
}

void ModelRepository::unload(const std::string& model) {
  if (!is_model_name(model)) throw ServeError(Status::kBadRequest, "'" + model + "' is not a model name");
  std::lock_guard<std::mutex> load_lock(load_mu_);
  std::map<int64_t, Loaded> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(model);
    if (it == models_.end()) throw ServeError(Status::kNotFound, "model '" + model + "' is not in the repository");
    it->second.unloaded = true;
    dropped.swap(it->second.versions);
  }
  for (auto& [v, l] : dropped) l.model->shutdown();
  log("unloaded model '" + model + "' (" + std::to_string(dropped.size()) + " version(s); queued requests finish)");
}

int ModelRepository::sync_model(const std::string& model, bool forced) {
  const fs::path folder = fs::path(dir_) / model;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) {
    if (forced) throw ServeError(Status::kNotFound, "model '" + model + "' has no folder in the repository '" + dir_ + "'");
    std::map<int64_t, Loaded> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& st = models_[model];
      st.present = false;
      dropped.swap(st.versions);
    }
    if (!dropped.empty()) log("model '" + model + "' left the repository: unloaded");
    return static_cast<int>(dropped.size());
  }
  auto record_error = [&](const std::string& msg) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& st = models_[model];
      st.present = true;
      if (st.error == msg) return;  // already logged
      st.error = msg;
    }
    log("error: model '" + model + "': " + msg);
  };

  ModelConfig base;
  const fs::path config_path = folder / "config.pbtxt";
  const fs::path manifest_path = folder / "SHA256SUMS";
  std::map<std::string, std::string> manifest;
  bool have_manifest = false;
  try {
    contained(folder.string());
    if (fs::exists(config_path, ec)) base = load_model_config(contained(config_path.string()));
    if (fs::exists(manifest_path, ec)) {
      manifest = parse_manifest(contained(manifest_path.string()), manifest_path.string());
      have_manifest = true;
    } else if (options_.require_manifest) {
      throw_error(ErrorCode::kInvalidArgument, "model folder '" + folder.string() +
                                                   "' has no SHA256SUMS manifest and the server requires one (--require-manifest)");
    }
    if (!base.name.empty() && base.name != model)
      throw_error(ErrorCode::kInvalidArgument, "config '" + config_path.string() + "': field 'name' is '" + base.name +
                                                   "' but the model folder is '" + model + "' (they must match)");
    base.name = model;
  } catch (const Error& e) {
    record_error(e.what());
    if (forced) throw ServeError(Status::kBadRequest, e.what());
    return 0;
  }
  // Stamps are mixed in unsigned arithmetic: nanosecond mtimes times a constant overflow int64
  // (signed overflow is UB; UBSan in scripts/sanitize.sh caught it). C++20 converts back modulo 2^64.
  const auto mix = [](int64_t a, uint64_t k) { return static_cast<int64_t>(static_cast<uint64_t>(a) * k); };
  const int64_t config_mtime = (fs::exists(config_path, ec) ? mtime_of(config_path) : 0) ^
                               (have_manifest ? mix(mtime_of(manifest_path), 17) : 0);

  std::vector<int64_t> found;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    std::string n = e.path().filename().string();
    if (e.is_directory() && is_version_name(n) && fs::exists(e.path() / base.default_model_filename))
      found.push_back(std::stoll(n));
  }
  std::sort(found.begin(), found.end());
  std::vector<int64_t> wanted;
  switch (base.version_policy.kind) {
    case VersionPolicy::Kind::kAll: wanted = found; break;
    case VersionPolicy::Kind::kLatest: {
      const size_t n = std::min<size_t>(base.version_policy.num_versions, found.size());
      wanted.assign(found.end() - static_cast<std::ptrdiff_t>(n), found.end());
      break;
    }
    case VersionPolicy::Kind::kSpecific:
      for (int64_t v : base.version_policy.versions)
        if (std::binary_search(found.begin(), found.end(), v)) wanted.push_back(v);
      break;
  }
  if (wanted.empty()) {
    std::string msg = "no version folder with " + base.default_model_filename + " selected by the version policy in '" +
                      folder.string() + "'";
    record_error(msg);
    if (forced) throw ServeError(Status::kBadRequest, msg);
    return 0;
  }

  std::map<int64_t, Loaded> current;
  std::map<int64_t, int64_t> failed_before;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = models_[model].versions;
    failed_before = models_[model].failed;
  }
  std::map<int64_t, int64_t> failed_now;
  bool failed = false;
  std::string first_error;
  std::map<int64_t, Loaded> fresh;
  for (int64_t v : wanted) {
    const fs::path file = folder / std::to_string(v) / base.default_model_filename;
    // A changed model file or config.pbtxt reloads the version.
    const int64_t mt = mtime_of(file) ^ mix(config_mtime, 31);
    auto it = current.find(v);
    if (!forced && it != current.end() && it->second.mtime == mt) continue;
    // A version that failed to load is retried when its files change (or on an explicit load),
    // not on every poll.
    auto fb = failed_before.find(v);
    if (!forced && fb != failed_before.end() && fb->second == mt) {
      failed = true;
      failed_now[v] = mt;
      continue;
    }
    try {
      auto t0 = std::chrono::steady_clock::now();
      const std::string real = contained(file.string());
      const std::string bytes = read_model_file(real, file.string(), options_.max_model_bytes);
      const std::string rel = std::to_string(v) + "/" + base.default_model_filename;
      if (have_manifest) {
        auto m = manifest.find(rel);
        if (m == manifest.end())
          throw_error(ErrorCode::kInvalidArgument, "model file '" + file.string() + "' is not listed in the manifest '" +
                                                       manifest_path.string() + "' (add: sha256sum " + rel + " >> SHA256SUMS)");
        unsigned char d[SHA256_DIGEST_LENGTH];
        SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), d);
        if (hex(d, sizeof d) != m->second)
          throw_error(ErrorCode::kInvalidArgument, "model file '" + file.string() + "' has SHA-256 " + hex(d, sizeof d) +
                                                       " but the manifest '" + manifest_path.string() + "' says " + m->second +
                                                       "; refused (corrupt or tampered file, or a stale manifest)");
      }
      // Parsed from the bytes just checked; external data resolves (and is contained) in the version folder.
      Graph g = onnx::load_model_from_bytes(bytes, file.string(), fs::path(real).parent_path().string());
      ModelConfig c = base;
      complete_model_config(c, g, file.string());
      auto sp = options_.split.find(model);
      auto mv = std::make_shared<ModelVersion>(model, v, c, g, options_.exec, sp == options_.split.end() ? nullptr : &sp->second);
      if (mv->split()) {
        const auto a = mv->split()->active();
        log("model '" + model + "' version " + std::to_string(v) + ": split at cut " + std::to_string(a.cut) + " (" +
            a.placement + (a.after_node.empty() ? "" : ", after '" + a.after_node + "'") + ", " + split::transport_name(a.transport) +
            " wire), cloud " + sp->second.cloud_url + ", plan " + sp->second.plan_path);
      }
      // A drift reference (written by `edgeopt optimize`) beside the model file or in the model's
      // folder turns on drift detection for this version; a bad one fails the load, naming it.
      for (const fs::path& ref : {folder / std::to_string(v) / "drift_reference.json", folder / "drift_reference.json"}) {
        if (!fs::exists(ref)) continue;
        try {
          std::ifstream f(contained(ref.string()));
          mv->set_drift(std::make_unique<monitor::DriftDetector>(
              monitor::DriftDetector::from_json(nlohmann::json::parse(f))));
        } catch (const std::exception& e) {
          throw_error(ErrorCode::kInvalidArgument, ref.string() + ": " + e.what());
        }
        log("model '" + model + "' version " + std::to_string(v) + ": drift detection on, reference " + ref.string());
        break;
      }
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::string io;
      for (const auto& t : c.inputs) io += (io.empty() ? "" : ", ") + t.name + " " + oip_datatype(t.dtype);
      log(std::string(it != current.end() ? "reloaded" : "loaded") + " model '" + model + "' version " + std::to_string(v) +
          " from " + file.string() + " in " + std::to_string(static_cast<int>(ms)) + " ms (inputs: " + io +
          "; max_batch_size " + std::to_string(c.max_batch_size) + (c.dynamic_batching ? ", dynamic batching" : "") + ")");
      fresh[v] = Loaded{std::move(mv), mt};
    } catch (const std::exception& e) {
      failed = true;
      failed_now[v] = mt;
      if (first_error.empty()) first_error = e.what();
    }
  }
  int changes = static_cast<int>(fresh.size());
  std::vector<std::shared_ptr<ModelVersion>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& st = models_[model];
    st.present = true;
    st.failed = failed_now;
    for (auto& [v, l] : fresh) {
      auto it = st.versions.find(v);
      if (it != st.versions.end()) dropped.push_back(it->second.model);
      st.versions[v] = std::move(l);
    }
    // Keep versions outside the policy while a wanted one failed: better an older model than none.
    if (!failed) {
      for (auto it = st.versions.begin(); it != st.versions.end();) {
        if (std::find(wanted.begin(), wanted.end(), it->first) == wanted.end()) {
          dropped.push_back(it->second.model);
          it = st.versions.erase(it);
          ++changes;
        } else {
          ++it;
        }
      }
      st.error.clear();
    }
  }
  for (const auto& d : dropped) {
    bool still = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [v, l] : models_[model].versions) still = still || l.model == d;
    }
    if (!still) log("retired model '" + model + "' version " + std::to_string(d->version()) + " (in-flight requests finish on it)");
  }
  dropped.clear();  // the last user of a retired version joins its workers (maybe an HTTP thread)
  if (failed && !first_error.empty()) {
    record_error(first_error);
    if (forced) throw ServeError(Status::kBadRequest, "model '" + model + "' failed to load: " + first_error);
  }
  return changes;
}

void ModelRepository::set_serving(const std::string& model, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end()) throw ServeError(Status::kNotFound, "model '" + model + "' is not in the repository");
  if (version != 0 && !it->second.versions.count(version))
    throw ServeError(Status::kNotFound, "model '" + model + "' has no loaded version " + std::to_string(version) + " to serve");
  it->second.pinned = version;
}

int64_t ModelRepository::serving(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end() || it->second.versions.empty()) return 0;
  const auto& versions = it->second.versions;
  return versions.count(it->second.pinned) ? it->second.pinned : versions.rbegin()->first;
}

std::shared_ptr<ModelVersion> ModelRepository::get(const std::string& model, const std::string& version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(model);
  if (it == models_.end() || it->second.versions.empty()) {
    std::string known;
    for (const auto& [n, st] : models_)
      if (!st.versions.empty()) known += (known.empty() ? "" : ", ") + n;
    std::string why = it == models_.end() ? "is not in the repository"
                      : it->second.unloaded ? "is unloaded"
                      : !it->second.error.empty() ? "failed to load: " + it->second.error
                                                  : "has no loaded version";
    throw ServeError(Status::kNotFound, "model '" + model + "' " + why + " (ready models: " + (known.empty() ? "none" : known) + ")");
  }
  const auto& versions = it->second.versions;
  if (version.empty()) {
    auto pin = versions.find(it->second.pinned);
    return pin != versions.end() ? pin->second.model : versions.rbegin()->second.model;
  }
  int64_t v = 0;
  if (is_version_name(version)) v = std::stoll(version);
  auto vit = versions.find(v);
  if (vit == versions.end()) {
    std::string known;
    for (const auto& [n, l] : versions) known += (known.empty() ? "" : ", ") + std::to_string(n);
    throw ServeError(Status::kNotFound, "model '" + model + "' has no ready version '" + version + "' (ready: " + known + ")");
  }
  return vit->second.model;
}

std::vector<int64_t> ModelRepository::versions(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int64_t> out;
  auto it = models_.find(model);
  if (it != models_.end())
    for (const auto& [v, l] : it->second.versions) out.push_back(v);
  return out;
}

std::vector<ModelIndexEntry> ModelRepository::index() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ModelIndexEntry> out;
  for (const auto& [n, st] : models_) {
    if (!st.present) continue;
    for (const auto& [v, l] : st.versions) out.push_back({n, std::to_string(v), "READY", ""});
    if (st.versions.empty()) out.push_back({n, "", "UNAVAILABLE", st.unloaded ? "unloaded" : st.error});
  }
  return out;
}

bool ModelRepository::all_ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (shut_down_) return false;
  for (const auto& [n, st] : models_)
    if (st.present && !st.unloaded && st.versions.empty()) return false;
  return true;
}

void ModelRepository::shutdown() {
  std::map<std::string, ModelState> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    for (auto& [n, st] : models_)
      for (auto& [v, l] : st.versions) l.model->shutdown();
    all.swap(models_);
  }
  for (auto& [n, st] : all)
    for (auto& [v, l] : st.versions) {
      const VersionStats s = l.model->stats();
      char avg[32];
      std::snprintf(avg, sizeof avg, "%.2f", s.batches ? static_cast<double>(s.rows) / static_cast<double>(s.batches) : 0.0);
      log("model '" + n + "' version " + std::to_string(v) + ": " + std::to_string(s.requests) + " requests answered in " +
          std::to_string(s.batches) + " runs (" + avg + " rows per run, largest " + std::to_string(s.max_batch_rows_seen) +
          "), " + std::to_string(s.rejected) + " rejected (queue full/stopping), " + std::to_string(s.expired) +
          " expired, " + std::to_string(s.failed) + " failed");
    }
  // Destructors (when no request holds a version any more) finish queued work and join workers.
}

}  // namespace edgeopt::serve

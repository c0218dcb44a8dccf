// serve::ModelRepository: the models of a Triton-layout directory, loaded and kept in step with it.
//
//   DIR/<model>/config.pbtxt          optional (model_config.h); name must match the folder
//   DIR/<model>/<version>/model.onnx  version = a positive integer folder name
//
//   ModelRepository repo("models/", {.exec = {.threads = 2}});
//   repo.poll();                                         // load what the policy selects
//   auto mv = repo.get("vision_cnn", "");                // latest ready version (throws kNotFound)
//   mv->infer(request);
//
// poll() compares the directory with what is loaded: new version folders (and model.onnx files whose
// modification time changed) are loaded first and then swapped in under the lock; versions that
// left the policy are dropped. A dropped ModelVersion finishes its queued requests when its last
// user releases it (ModelVersion's destructor), so a hot swap fails no request. A model that fails
// to load keeps serving its previous versions; the error shows in index() and the log.
// Thread-safety: every member may be called concurrently (one mutex around the tables; loading
// happens outside it).
//
// Containment and integrity (docs/security.md): model names from requests are map keys only; a
// name that is not one path component ('/', '\\', "..", ".", control characters, empty) is a 400
// for load/unload and a 404 elsewhere, and no file is opened for it. Every path the repository
// opens (model folder, config.pbtxt, SHA256SUMS, version folder, model file, drift reference) is
// resolved (symlinks included) and must stay inside the repository's resolved root; one that
// escapes is refused with an error naming it, without being opened. A model file is checked
// against max_model_bytes by its size, then read once, its SHA-256 compared with the model
// folder's SHA256SUMS manifest (`sha256sum` format: "<hex>  <version>/<file>") when there is one,
// and parsed from those same bytes, so the checked bytes are the loaded bytes.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "serve/model_version.h"

namespace edgeopt::serve {

struct RepositoryOptions {
  ExecOptions exec;
  // Model files larger than this are refused before they are read (0: no cap).
  uint64_t max_model_bytes = uint64_t{4} << 30;
  // Refuse models whose folder has no SHA256SUMS manifest (with one, every loaded model file must
  // be listed in it and match, whether or not this is set).
  bool require_manifest = false;
  // Models served through an edge-cloud split (every version of them; split_backend.h).
  std::map<std::string, SplitSpec> split;
  std::function<void(const std::string&)> log;  // one line per load/unload/error; may be empty
};

struct ModelIndexEntry {
  std::string name;
  std::string version;  // "" for a model that has no loaded version
  std::string state;    // "READY", "UNAVAILABLE" (failed or unloaded)
  std::string reason;   // the load error, or "unloaded"
};

class ModelRepository {
 public:
  ModelRepository(std::string dir, RepositoryOptions options);
  ~ModelRepository();

  // Scans the directory and loads/unloads to match it (models unloaded through unload() stay
  // unloaded until load()). Returns the number of versions loaded or dropped.
  int poll();
  // Repository extension: (re)load one model's versions now / drop them. load throws kNotFound for
  // a model folder that does not exist and kBadRequest when no version loads.
  void load(const std::string& model);
  void unload(const std::string& model);

  // A ready version: `version` "" = the highest loaded one. Throws ServeError kNotFound naming the
  // model/version and what is available.
  std::shared_ptr<ModelVersion> get(const std::string& model, const std::string& version) const;
  std::vector<int64_t> versions(const std::string& model) const;  // loaded, ascending
  // Routing of requests that name no version: by default the highest loaded version; after
  // set_serving, `version` while it stays loaded (a controller's variant switch). The swap is one
  // pointer under the lock: requests already holding the old version finish on it. 0 clears the
  // pin. Throws kNotFound when the version is not loaded.
  void set_serving(const std::string& model, int64_t version);
  int64_t serving(const std::string& model) const;  // the version "" resolves to now (0: none)
  std::vector<ModelIndexEntry> index() const;
  bool all_ready() const;  // every model folder seen has at least one loaded version
  // Stops accepting requests on every version (they finish what is queued) and drops them.
  void shutdown();
  const std::string& dir() const { return dir_; }

 private:
  struct Loaded {
    std::shared_ptr<ModelVersion> model;
    int64_t mtime = 0;  // model file's modification time when loaded
  };
  struct ModelState {
    std::map<int64_t, Loaded> versions;
    std::map<int64_t, int64_t> failed;  // version -> file stamp of a failed load (not retried by poll)
    std::string error;          // last load error
    bool unloaded = false;      // by request
    bool present = true;        // folder exists
    int64_t pinned = 0;         // set_serving (0: the highest)
  };
  int sync_model(const std::string& model, bool forced);
  void log(const std::string& line) const;

  // The resolved form of `p` if it stays inside the repository; throws InvalidArgument naming `p`.
  std::string contained(const std::string& p) const;

  std::string dir_;
  std::string root_;            // dir_ resolved (canonical), for containment checks
  RepositoryOptions options_;
  mutable std::mutex mu_;       // guards models_
  std::mutex load_mu_;          // one loader at a time (poll thread vs load endpoint)
  std::map<std::string, ModelState> models_;
  bool shut_down_ = false;
};

}  // namespace edgeopt::serve

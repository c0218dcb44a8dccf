// edgeopt run MODEL.onnx --input NAME=FILE ... --output-dir DIR [--profile]: one inference with
// the reference runtime, inputs from .npy or ONNX TensorProto .pb files, outputs to DIR/<name>.npy.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/verbs/verbs.h"
#include "core/npy.h"
#include "onnx/import.h"
#include "onnx/tensor_proto.h"
#include "runtime/session.h"

namespace edgeopt::cli {

namespace {

namespace fs = std::filesystem;

struct Options {
  std::string model;
  std::vector<std::string> inputs;
  std::string output_dir;
  bool profile = false;
};

// .npy by extension or magic, anything else is read as a serialized TensorProto.
Tensor read_tensor_file(const std::string& path) {
  std::string bytes = onnx::read_file_bytes(path);
  bool npy = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
  if (npy || bytes.rfind("\x93NUMPY", 0) == 0) return parse_npy(bytes, path);
  return onnx::tensor_from_pb_bytes(bytes, path);
}

std::string safe_file_name(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && u < 3) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

std::map<std::string, Tensor> read_feeds(const Options& o, const Graph& g) {
  std::map<std::string, Tensor> feeds;
  for (const auto& spec : o.inputs) {
    std::string name, file;
    size_t eq = spec.find('=');
    if (eq != std::string::npos && g.find_input(spec.substr(0, eq))) {
      name = spec.substr(0, eq);
      file = spec.substr(eq + 1);
    } else if (g.inputs.size() == 1 && o.inputs.size() == 1) {
      name = g.inputs[0].name;
      file = spec;
    } else if (eq != std::string::npos) {
      std::string known;
      for (const auto& v : g.inputs) known += (known.empty() ? "'" : ", '") + v.name + "'";
      throw_error(ErrorCode::kInvalidArgument, "--input '" + spec + "': '" + spec.substr(0, eq) +
                                                   "' is not an input of the model (inputs: " + known + ")");
    } else {
      throw_error(ErrorCode::kInvalidArgument, "--input '" + spec + "' needs the form NAME=FILE: the model has " +
                                                   std::to_string(g.inputs.size()) + " inputs");
    }
    if (feeds.count(name)) throw_error(ErrorCode::kInvalidArgument, "input '" + name + "' is given twice");
    feeds[name] = read_tensor_file(file);
  }
  for (const auto& v : g.inputs)
    if (!feeds.count(v.name))
      throw_error(ErrorCode::kInvalidArgument, "input '" + v.name + "' (" + dtype_name(v.dtype) + v.shape.str() +
                                                   ") is missing: pass --input " + v.name + "=FILE.npy");
  return feeds;
}

void run_run(const Options& o) {
  Graph g = onnx::load_model(o.model);
  std::map<std::string, Tensor> feeds = read_feeds(o, g);
  runtime::SessionOptions so;
  so.profile = o.profile;
  runtime::Session session(std::move(g), so);
  auto outputs = session.run(feeds);

  std::error_code ec;
  fs::create_directories(o.output_dir, ec);
  if (ec) throw_error(ErrorCode::kInvalidArgument, "cannot create output directory '" + o.output_dir + "': " + ec.message());
  std::set<std::string> used;
  for (const auto& v : session.graph().outputs) {
    std::string base = safe_file_name(v.name);
    std::string file = base;
    for (int k = 1; used.count(file); ++k) file = base + "_" + std::to_string(k);
    used.insert(file);
    fs::path path = fs::path(o.output_dir) / (file + ".npy");
    write_npy(path.string(), outputs.at(v.name));
    std::printf("  %-32s %-16s -> %s\n", v.name.c_str(), outputs.at(v.name).describe().c_str(), path.c_str());
  }
  const auto& st = session.stats();
  std::printf("wrote %zu output(s) to %s in %.3f ms (peak activations %s, weights %s)\n", outputs.size(),
              o.output_dir.c_str(), st.last_run_ms, human_bytes(static_cast<double>(st.peak_bytes)).c_str(),
              human_bytes(static_cast<double>(st.initializer_bytes)).c_str());
  if (o.profile) {
    auto timings = session.timings();
    std::sort(timings.begin(), timings.end(), [](const auto& a, const auto& b) { return a.total_ms > b.total_ms; });
    std::printf("\n%-40s %-20s %10s\n", "node", "op", "ms");
    for (const auto& t : timings) std::printf("%-40s %-20s %10.3f\n", t.node.c_str(), t.op_type.c_str(), t.total_ms);
  }
}

}  // namespace

void add_run_verb(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("run", "Run a model once on inputs from .npy/.pb files and save its outputs as .npy");
  sub->add_option("model", opts->model, "ONNX model file")->required();
  sub->add_option("-i,--input", opts->inputs,
                  "NAME=FILE for each graph input; FILE is .npy or an ONNX TensorProto .pb. A single-input "
                  "model also takes just FILE")
      ->allow_extra_args(false);
  sub->add_option("-o,--output-dir", opts->output_dir, "directory for <output name>.npy files (created)")->required();
  sub->add_flag("--profile", opts->profile, "print per-node times, slowest first");
  sub->footer(
      "Example:\n"
      "  edgeopt run resnet18.onnx --input data=cat.npy --output-dir out/\n"
      "  edgeopt run model.onnx --input x=test_data_set_0/input_0.pb --input y=in1.npy -o out --profile\n"
      "Output names become file names with characters outside [A-Za-z0-9._-] replaced by '_'.");
  sub->callback([opts] { run_run(*opts); });
}

}  // namespace edgeopt::cli

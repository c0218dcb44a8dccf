#include "optimize/optimize.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>

#include "compress/distill/distill.h"
#include "compress/lowrank/factorize.h"
#include "compress/model_stats.h"
#include "compress/prune/magnitude.h"
#include "compress/prune/structured.h"
#include "core/error.h"
#include "core/npy.h"
#include "core/thread_pool.h"
#include "monitor/drift.h"
#include "onnx/export.h"
#include "onnx/import.h"
#include "optimize/measure.h"
#include "quantize/calibrate.h"
#include "quantize/lowp_weights.h"
#include "quantize/ptq.h"
#include "quantize/qat.h"
#include "quantize/sensitivity.h"
#include "runtime/session.h"
#include "train/loop/trainer.h"
#include "train/zoo/zoo.h"

namespace edgeopt::optimize {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string hex(uint64_t h) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

void write_json_atomic(const fs::path& p, const json& j) {
  const fs::path tmp = p.string() + ".tmp";
  {
    std::ofstream f(tmp);
    EDGEOPT_CHECK_ARG(f.good(), "cannot write " + tmp.string());
    f << j.dump(2) << "\n";
  }
  fs::rename(tmp, p);
}

void save_model_atomic(const Graph& g, const fs::path& p) {
  const fs::path tmp = p.string() + ".tmp";
  onnx::save_model(g, tmp.string());
  fs::rename(tmp, p);
}

std::optional<json> read_json(const fs::path& p) {
  if (!fs::exists(p)) return std::nullopt;
  try {
    std::ifstream f(p);
    return json::parse(f);
  } catch (const std::exception&) {
    return std::nullopt;  // a torn or foreign file: rebuild what it described
  }
}

Family family_of(const Graph& g) {
  bool conv = false;
  for (const auto& n : g.nodes) {
    if (n.op_type == "LSTM" || n.op_type == "GRU" || n.op_type == "RNN") return Family::kRecurrent;
    if (n.op_type == "Conv") conv = true;
  }
  return conv ? Family::kConvNet : Family::kMlp;
}

// Everything a step needs besides the graph.
struct Context {
  const OptimizeOptions& o;
  const train::DataSplits& d;
  const Graph& baseline;
  std::string zoo_name;
  bool image = false;
};

train::TrainOptions fine_tune_options(const Context& c, const json& a, const Graph& g) {
  train::TrainOptions t;
  train::apply_zoo_train_defaults(c.zoo_name, c.image, t);
  t.lr = a.value("lr", 1e-3);  // fine-tuning starts from trained weights: a lower peak than from scratch
  t.epochs = a.value("epochs", 2);
  t.seed = c.o.seed;
  t.max_steps_per_epoch = c.o.max_steps_per_epoch;
  t.progress = c.o.progress;
  if (a.value("distill", false)) {
    t.teacher = compress::make_teacher(c.baseline);
    t.distill_alpha = a.value("alpha", 0.5);
    t.distill_temperature = a.value("temperature", 4.0);
  }
  // Weights pruned without structure stay zero while fine-tuning: a weight that is mostly exact
  // zeros got there by pruning (training never produces them), so its zeros are its mask.
  for (const auto& n : g.nodes) {
    if (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul" && n.op_type != "LSTM" && n.op_type != "GRU")
      continue;
    for (size_t i = 1; i < n.inputs.size() && i < 3; ++i) {
      auto it = g.initializers.find(n.inputs[i]);
      if (it == g.initializers.end() || it->second.dtype() != DType::kF32 || it->second.numel() < 16) continue;
      const Tensor& w = it->second;
      int64_t zeros = 0;
      for (int64_t k = 0; k < w.numel(); ++k) zeros += w.data<float>()[k] == 0.f;
      if (zeros * 2 < w.numel()) continue;
      Tensor m(DType::kF32, w.shape());
      for (int64_t k = 0; k < w.numel(); ++k) m.data<float>()[k] = w.data<float>()[k] != 0.f ? 1.f : 0.f;
      t.masks[n.inputs[i]] = m;
    }
  }
  return t;
}

// A copy of `g` that owns its weights. Copying a Graph shares its tensors' storage, and pruning
// (magnitude) and fine-tuning write weights in place: without this, fine-tuning a pruned model
// also changed the tensors it still shared with the baseline (the distillation teacher) and with
// earlier candidates, so a fresh run's in-memory models drifted from the files it had measured
// (a resumed run, which loads the files, selected differently).
Graph owned_copy(const Graph& g) {
  Graph out = g;
  for (auto& [name, t] : out.initializers) t = t.clone();
  return out;
}

Graph apply_step(const Graph& in_shared, const Step& s, const Context& c, json& log) {
  const Graph in = owned_copy(in_shared);
  const json& a = s.args;
  if (s.op == "prune") {
    Graph g = in;
    if (a.contains("sparsity")) {
      compress::MagnitudeReport r = compress::prune_magnitude(
          g, {.sparsity = a["sparsity"].get<double>(), .global = a.value("global", false)}, nullptr);
      log = r.to_json();
    } else {
      compress::StructuredReport r = compress::prune_structured(
          g, {.flops_ratio = a.value("flops_ratio", 0.5),
              .criterion = a.value("criterion", std::string("l1")),
              .channel_multiple = static_cast<int64_t>(a.value("channel_multiple", 1.0))});
      log = r.to_json();
    }
    return g;
  }
  if (s.op == "factorize") {
    Graph g = in;
    compress::FactorizeOptions f;
    f.energy = a.value("energy", 0.9);
    f.flops_ratio = a.value("flops_ratio", 0.0);
    f.tucker_rank = a.value("tucker_rank", std::string("energy"));
    f.conv_method = a.value("conv_method", std::string("tucker2"));
    f.svd = a.value("svd", true);
    f.tucker = a.value("tucker", true);
    log = compress::factorize(g, f).to_json();
    return g;
  }
  if (s.op == "student") {
    train::ZooOptions zo = train::zoo_options_for_data(a["zoo"].get<std::string>(), c.d, c.o.seed);
    zo.width = a.value("width", 0);
    zo.depth = a.value("depth", 0);
    Graph g = train::build_zoo_model(a["zoo"].get<std::string>(), zo);
    log = {{"parameters", g.parameter_count()}, {"teacher_parameters", c.baseline.parameter_count()}};
    return g;
  }
  if (s.op == "fine_tune") {
    Graph g = in;
    train::TrainOptions t = fine_tune_options(c, a, g);
    if (t.epochs > 0) {
      train::TrainReport r = train::train_model(g, c.d, t);
      log = {{"epochs", t.epochs}, {"best_epoch", r.best_epoch}, {"best_val", r.best_val_metric},
             {"seconds", r.seconds}, {"distill", static_cast<bool>(t.teacher)}};
    }
    return g;
  }
  // quantize
  using namespace quantize;
  const std::string dtype = a.value("dtype", std::string("int8"));
  if (dtype != "int8") {
    LowpReport lr;
    Graph g = store_weights_lowp(prepare_float_graph(in), dtype == "fp16" ? DType::kF16 : DType::kBF16, &lr);
    log = {{"converted", lr.converted}, {"kept_overflow", lr.kept_overflow}};
    return g;
  }
  QuantOptions q;
  q.calib = calib_method_from_name(a.value("calib", std::string("minmax")));
  q.per_channel = a.value("per_channel", true);
  q.calib_samples = a.value("calib_samples", 512);
  q.seed = c.o.seed;
  if (a.value("method", std::string("ptq")) == "qat") {
    QatOptions qo;
    qo.quant = q;
    qo.epochs = a.value("epochs", 1);
    qo.max_steps_per_epoch = c.o.max_steps_per_epoch;
    QatResult r = quantize_qat(in, c.d, qo);
    log = {{"method", "qat"}, {"epochs", qo.epochs}};
    return r.qdq;
  }
  Graph f = prepare_float_graph(in);
  QuantPlan plan = plan_quantization(f, q);
  Tensor x = calibration_samples(c.d.train, q.calib_samples, q.seed);
  if (a.contains("max_accuracy_drop")) {
    auto ranges = calibrate(f, plan.activations, x, q);
    MixedPrecision mp = choose_mixed_precision(f, ranges, q, c.d, a["max_accuracy_drop"].get<double>(), "val");
    log = {{"method", "ptq"}, {"kept_float", mp.kept_float}, {"val_drop", mp.drop}};
    return mp.graph;
  }
  auto ranges = calibrate(f, plan.calibrated, x, q);
  log = {{"method", "ptq"}, {"quantized_nodes", plan.targets.size()}};
  return emit_qdq(f, plan, activation_qparams(plan, ranges, q), q);
}

struct Candidate {
  std::string id;
  Recipe recipe;
  fs::path path;
  json card;
  Graph graph;
};

// Quality as the report writes it: accuracy fraction or RMSE.
void put_quality(json& card, const quantize::Quality& val, const quantize::Quality& test) {
  if (test.higher_is_better) {
    card["accuracy"] = test.value / 100.0;
    card["rmse"] = nullptr;
    card["val_accuracy"] = val.value / 100.0;
  } else {
    card["accuracy"] = nullptr;
    card["rmse"] = test.value;
    card["val_rmse"] = val.value;
  }
}

double card_quality(const json& c, const char* split) {  // higher is better
  const bool cls = !c["accuracy"].is_null();
  const std::string k = std::string(split) == "val" ? (cls ? "val_accuracy" : "val_rmse") : (cls ? "accuracy" : "rmse");
  return cls ? c[k].get<double>() : -c[k].get<double>();
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

Tensor first_sample(const train::Dataset& ds) {
  Shape s = ds.x.shape();
  std::vector<int64_t> dims = s.dims();
  dims[0] = 1;
  Tensor t(DType::kF32, Shape(dims));
  std::memcpy(t.data<float>(), ds.x.data<float>(), sizeof(float) * static_cast<size_t>(t.numel()));
  return t;
}

// Per sample of `ds`: 1/0 for a correct/wrong class (classifiers) or the squared error summed over
// the outputs in the target's units (forecasters), through the runtime the model deploys on.
std::vector<double> per_sample_outcomes(const Graph& g, const train::DataSplits& d, const train::Dataset& ds, bool cls) {
  const Tensor pred = train::predict(g, ds);
  const int64_t n = ds.size();
  std::vector<double> out(static_cast<size_t>(n));
  if (cls) {
    const std::vector<int64_t> y = ds.y.to_i64_vector();
    const int64_t k = pred.numel() / std::max<int64_t>(n, 1);
    const float* p = pred.data<float>();
    for (int64_t i = 0; i < n; ++i) {
      const float* row = p + i * k;
      out[i] = (std::max_element(row, row + k) - row) == y[i] ? 1.0 : 0.0;
    }
    return out;
  }
  const std::vector<float> pv = d.inverse_target(pred).to_f32_vector();
  const std::vector<float> yv = d.inverse_target(ds.y).to_f32_vector();
  EDGEOPT_CHECK_ARG(pv.size() == yv.size(), "the model's output " + pred.describe() + " does not match the targets " +
                                               ds.y.describe());
  const size_t k = pv.size() / static_cast<size_t>(std::max<int64_t>(n, 1));
  for (size_t i = 0; i < static_cast<size_t>(n); ++i)
    for (size_t j = 0; j < k; ++j) {
      const double e = static_cast<double>(pv[i * k + j]) - yv[i * k + j];
      out[i] += e * e;
    }
  return out;
}

// Training splits at least this large give up a holdout for training's epoch selection (below,
// the validation split is halved instead).
constexpr int64_t kHoldoutMinTrain = 20000;

// The training split less a holdout that training and fine-tuning keep their best epoch by (it
// becomes their "val"): the last training windows for forecasters (adjacent in time, as the
// validation split is), a seeded random draw for classifiers (the tail of a sensor stream can be
// all one class: on wsn-events it was 100% accurate from the first epoch, so every fine-tuning
// kept its first epoch). A tenth of the training split, at most the validation split's size.
train::DataSplits carve_holdout(const train::DataSplits& all, uint64_t seed) {
  const int64_t n = all.train.size();
  const int64_t h = std::max<int64_t>(2, std::min<int64_t>(n / 10, std::max<int64_t>(all.val.size(), 2)));
  EDGEOPT_CHECK_ARG(n >= 2 * h, "--data: the training split has " + std::to_string(n) +
                                    " samples; optimize needs at least " + std::to_string(2 * h) + " (a holdout is carved from it)");
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), int64_t{0});
  if (all.task == "classification" || all.window <= 0) std::shuffle(idx.begin(), idx.end(), std::mt19937_64(seed ^ 0x5eed5e1ec7ull));
  std::vector<int64_t> keep(idx.begin(), idx.end() - h), hold(idx.end() - h, idx.end());
  std::sort(keep.begin(), keep.end());
  std::sort(hold.begin(), hold.end());
  train::DataSplits fit = all;
  fit.train = all.train.subset(keep);
  fit.val = all.train.subset(hold);
  return fit;
}

}  // namespace

DropEstimate paired_drop(const std::vector<double>& base, const std::vector<double>& cand, bool classification,
                         double confidence, uint64_t seed, int resamples) {
  EDGEOPT_CHECK_ARG(base.size() == cand.size() && !base.empty(),
                    "paired_drop: " + std::to_string(base.size()) + " baseline and " + std::to_string(cand.size()) +
                        " candidate outcomes (need the same, non-zero count)");
  EDGEOPT_CHECK_ARG(confidence >= 0 && confidence < 1, "--selection-confidence must be in [0, 1), got " + std::to_string(confidence));
  const size_t n = base.size();
  auto drop_of = [&](double sb, double sc) {
    if (classification) return 100.0 * (sb - sc) / static_cast<double>(n);
    return sb > 0 ? 100.0 * (std::sqrt(sc / sb) - 1) : (sc > 0 ? 1e300 : 0.0);
  };
  DropEstimate e;
  e.drop = drop_of(std::accumulate(base.begin(), base.end(), 0.0), std::accumulate(cand.begin(), cand.end(), 0.0));
  e.upper = e.drop;
  if (confidence <= 0 || resamples < 1) return e;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<double> stats(static_cast<size_t>(resamples));
  for (auto& st : stats) {
    double sb = 0, sc = 0;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = pick(rng);
      sb += base[i];
      sc += cand[i];
    }
    st = drop_of(sb, sc);
  }
  std::sort(stats.begin(), stats.end());
  const size_t q = std::min(stats.size() - 1, static_cast<size_t>(std::ceil(confidence * static_cast<double>(stats.size()))) - 1);
  e.upper = std::max(e.drop, stats[q]);
  return e;
}

std::vector<size_t> pareto_front(const std::vector<double>& quality, const std::vector<double>& latency,
                                 const std::vector<double>& size) {
  std::vector<size_t> front;
  const size_t n = quality.size();
  for (size_t i = 0; i < n; ++i) {
    bool dominated = false;
    for (size_t j = 0; j < n && !dominated; ++j) {
      if (j == i) continue;
      const bool no_worse = quality[j] >= quality[i] && latency[j] <= latency[i] && size[j] <= size[i];
      const bool better = quality[j] > quality[i] || latency[j] < latency[i] || size[j] < size[i];
      dominated = no_worse && better;
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

json run_optimize(const OptimizeOptions& o) {
  const auto t_start = std::chrono::steady_clock::now();
  EDGEOPT_CHECK_ARG(!o.out_dir.empty(), "--out: an output directory is needed");
  EDGEOPT_CHECK_ARG(o.objective == "latency" || o.objective == "size" || o.objective == "energy",
                    "--objective must be latency, size or energy, got '" + o.objective + "'");
  EDGEOPT_CHECK_ARG(o.threads >= 1, "--threads must be >= 1");
  EDGEOPT_CHECK_ARG(o.budgets.selection_confidence < 1, "--selection-confidence must be below 1 (0.9: a one-sided 90% bound; "
                                                        "0: the point estimate), got " + fmt("%g", o.budgets.selection_confidence));
  EDGEOPT_CHECK_ARG(!o.recipe_file.empty() || o.auto_search, "give --recipe FILE or --auto");
  const Target target = resolve_target(o.target, o.threads, o.host_power_w);  // validates the name early
  const fs::path out(o.out_dir);
  fs::create_directories(out / "candidates");
  fs::create_directories(out / "stages");
  auto say = [&](const std::string& s) {
    if (o.progress) std::fprintf(stderr, "%s\n", s.c_str());
  };

  train::DatasetOptions dopt = o.data_opts;
  dopt.seed = o.seed;
  const train::DataSplits all_data = train::load_dataset(o.data, dopt);
  say(all_data.describe());
  // What training and fine-tuning keep their best epoch by (`d.val`) and what budgets and selection
  // read (`sel.val`) are disjoint, so selection sees data no training decision has seen. (With one
  // shared set, the chosen vision_cnn was about 0.4 point worse on the test split than on the set
  // it was selected on.) Large training splits give up a holdout (a tenth) for training, and
  // selection reads the whole validation split: on Fashion-MNIST 6,000 images instead of 3,000.
  // Small ones keep their training data and split the validation split in halves: carving the
  // last 87 windows (the most recent weather) out of seattle-weather's 870 cost its baseline 6.6% RMSE.
  EDGEOPT_CHECK_ARG(all_data.val.size() >= 4, "--data: the validation split has " + std::to_string(all_data.val.size()) +
                                             " samples; optimize needs at least 4 (two halves)");
  const bool carve = all_data.train.size() >= kHoldoutMinTrain;
  train::DataSplits d = all_data, sel = all_data;
  if (carve) {
    d = carve_holdout(all_data, o.seed);
  } else {
    std::vector<int64_t> a, b;
    for (int64_t i = 0; i < all_data.val.size(); ++i) (i < all_data.val.size() / 2 ? a : b).push_back(i);
    d.val = all_data.val.subset(a);
    sel.val = all_data.val.subset(b);
  }
  const bool image = d.train.x.rank() == 4;

  // 1. The baseline: the given model, or a zoo model trained here (kept for resume).
  Graph baseline;
  std::string zoo_name;
  const bool from_onnx = ends_with(o.model, ".onnx");
  const std::string base_key = std::string(carve ? "split=holdout" : "split=valhalves") + " model=" + o.model + " data=" + o.data + " seed=" + std::to_string(o.seed) +
                               " epochs=" + std::to_string(from_onnx ? 0 : o.train_epochs) +
                               " steps=" + std::to_string(o.max_steps_per_epoch);
  const fs::path base_path = out / "baseline.onnx";
  bool resumed = false;
  if (from_onnx) {
    baseline = onnx::load_model(o.model);
    auto it = baseline.metadata.find("edgeopt.zoo");
    if (it != baseline.metadata.end()) zoo_name = it->second;
  } else {
    zoo_name = o.model;
    auto meta = read_json(out / "baseline.json");
    if (meta && meta->value("key", "") == base_key && fs::exists(base_path)) {
      baseline = onnx::load_model(base_path.string());
      say("resume: reusing the trained baseline " + base_path.string());
      resumed = true;
    } else {
      say("training the baseline " + o.model + " for " + std::to_string(o.train_epochs) + " epochs (seed " +
          std::to_string(o.seed) + ")");
      baseline = train::build_zoo_model(o.model, train::zoo_options_for_data(o.model, d, o.seed));
      train::TrainOptions t;
      train::apply_zoo_train_defaults(o.model, image, t);
      t.epochs = o.train_epochs;
      t.seed = o.seed;
      t.max_steps_per_epoch = o.max_steps_per_epoch;
      t.progress = o.progress;
      t.checkpoint = (out / "baseline.ckpt").string();
      t.resume = fs::exists(t.checkpoint);
      train::train_model(baseline, d, t);
      baseline.metadata["edgeopt.dataset"] = d.name;
      save_model_atomic(baseline, base_path);
      write_json_atomic(out / "baseline.json", {{"key", base_key}});
    }
  }
  if (from_onnx) save_model_atomic(baseline, base_path);
  const Family fam = family_of(baseline);
  const Context ctx{o, d, baseline, zoo_name, image};

  // 2. The candidates' recipes.
  std::vector<Recipe> recipes;
  const int ft_epochs = o.fine_tune_epochs >= 0 ? o.fine_tune_epochs : (image ? 4 : 10);
  if (!o.recipe_file.empty()) {
    recipes = load_recipes(o.recipe_file);
  } else {
    recipes = auto_recipes(fam, zoo_name, {.fine_tune_epochs = ft_epochs, .student_epochs = std::max(ft_epochs, 2) * 2});
  }
  say("family " + std::string(family_name(fam)) + ": " + std::to_string(recipes.size()) + " candidates to build");

  // 3. Baseline card.
  const quantize::Quality base_val = quantize::measure_quality(baseline, sel, "val");
  const quantize::Quality base_test = quantize::measure_quality(baseline, d, "test");
  const bool cls = base_test.higher_is_better;
  const double max_drop = o.budgets.max_accuracy_drop >= 0 ? o.budgets.max_accuracy_drop : (cls ? 0.5 : 2.0);
  const Tensor sample = first_sample(d.test);

  std::vector<Candidate> cands;
  {
    Candidate b;
    b.id = "c00";
    b.recipe = {"baseline", {}};
    b.path = base_path;
    b.graph = baseline;
    b.card = {{"id", b.id}, {"name", "baseline"}, {"steps", json::array()}};
    put_quality(b.card, base_val, base_test);
    cands.push_back(std::move(b));
  }

  // 4. Build every candidate, reusing stages (shared prefixes) and finished candidates (resume).
  std::map<std::string, Graph> stage_mem;
  auto stage_path = [&](const std::string& key) { return out / "stages" / (hex(fnv1a(base_key + " || " + key)) + ".onnx"); };
  int reused = 0;
  for (size_t i = 0; i < recipes.size(); ++i) {
    Candidate c;
    c.id = fmt("c%02.0f", static_cast<double>(i + 1));
    c.recipe = recipes[i];
    c.path = out / "candidates" / (c.id + ".onnx");
    const fs::path card_path = out / "candidates" / (c.id + ".json");
    const std::string ckey = base_key + " || " + c.recipe.key();
    const std::string head = "[" + std::to_string(i + 1) + "/" + std::to_string(recipes.size()) + "] " + c.id + " " + c.recipe.name;
    auto prev = read_json(card_path);
    if (prev && prev->value("key", "") == ckey && fs::exists(c.path)) {
      c.card = (*prev)["card"];
      c.graph = onnx::load_model(c.path.string());
      cands.push_back(std::move(c));
      ++reused;
      say(head + ": reused (resume)");
      continue;
    }
    say(head + ": " + c.recipe.key());
    const auto t0 = std::chrono::steady_clock::now();
    Graph g = baseline;
    json logs = json::array();
    std::string prefix;
    for (size_t s = 0; s < c.recipe.steps.size(); ++s) {
      const Step& st = c.recipe.steps[s];
      prefix += (prefix.empty() ? "" : " | ") + st.describe();
      if (auto it = stage_mem.find(prefix); it != stage_mem.end()) {
        g = it->second;
        logs.push_back({{"step", st.describe()}, {"reused", true}});
        continue;
      }
      // Every stage is kept (memory and disk): a candidate that extends another (prune50 ->
      // prune50+int8) continues from exactly the model the shorter one measured.
      const fs::path sp = stage_path(prefix);
      if (fs::exists(sp)) {
        g = onnx::load_model(sp.string());
        logs.push_back({{"step", st.describe()}, {"reused", true}});
      } else {
        json log;
        g = apply_step(g, st, ctx, log);
        logs.push_back({{"step", st.describe()}, {"log", log}});
        save_model_atomic(g, sp);
      }
      stage_mem[prefix] = g;
    }
    save_model_atomic(g, c.path);
    c.graph = std::move(g);
    json card = {{"id", c.id}, {"name", c.recipe.name}, {"recipe", c.recipe.to_json()}, {"step_logs", logs},
                 {"build_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
    json steps = json::array();
    for (const auto& st : c.recipe.steps) steps.push_back(st.describe());
    card["steps"] = steps;
    put_quality(card, quantize::measure_quality(c.graph, sel, "val"), quantize::measure_quality(c.graph, d, "test"));
    c.card = card;
    write_json_atomic(card_path, {{"key", ckey}, {"card", card}});
    const double q = cls ? 100 * card["accuracy"].get<double>() : card["rmse"].get<double>();
    say(head + ": test " + (cls ? fmt("accuracy %.2f%%", q) : fmt("RMSE %.4f", q)) + fmt(", built in %.1f s", card["build_seconds"].get<double>()));
    cands.push_back(std::move(c));
  }

  // 5. Sizes, memory, and latency: all candidates timed round-robin in one loop.
  say("timing " + std::to_string(cands.size()) + " models at batch 1, " + std::to_string(o.threads) +
      " thread(s), interleaved");
  std::vector<const Graph*> graphs;
  for (auto& c : cands) graphs.push_back(&c.graph);
  const int saved_threads = num_threads();
  set_num_threads(o.threads);
  // ONNX Runtime on the baseline (when a Python with it is found) takes its share of every round.
  std::unique_ptr<OrtTimer> ort;
  if (o.ort) ort = std::make_unique<OrtTimer>(base_path.string(), sample, o.threads, out);
  std::vector<LatencyStats> lat = interleaved_latency(graphs, sample, o.latency_rounds, o.latency_runs, [&] {
    if (ort) ort->run(o.latency_runs);
  });
  std::vector<MemoryStats> mem;
  for (auto& c : cands) mem.push_back(session_memory(c.graph, sample));
  set_num_threads(saved_threads);
  for (size_t i = 0; i < cands.size(); ++i) {
    json& c = cands[i].card;
    c["size_bytes"] = static_cast<int64_t>(fs::file_size(cands[i].path));
    c["path"] = fs::relative(cands[i].path, out).string();
    c["latency_ms"] = lat[i].p50_ms;
    c["latency_p99_ms"] = lat[i].p99_ms;
    c["latency_source"] = "measured";
    c["peak_memory_mb"] = mem[i].peak_mb;
    c["parameters"] = cands[i].graph.parameter_count();
    c["flops"] = compress::graph_flops(cands[i].graph);
  }

  // 6. The target: on the host the measurements stand; on a named device latency and energy are
  // roofline estimates (labelled). Energy on the host: RAPL when readable, else an estimate.
  std::vector<std::string> target_rejects(cands.size());
  for (size_t i = 0; i < cands.size(); ++i) {
    if (target.host) annotate_energy(cands[i].card, cands[i].graph, sample, target, o.threads);
    else target_rejects[i] = apply_target_estimate(cands[i].card, cands[i].graph, target);
  }

  // 7. Budgets and selection (validation quality), Pareto front (test quality). The accuracy budget
  // reads the drop's upper confidence bound (paired bootstrap on the validation split), so a
  // candidate is not chosen for having been lucky on the selection set.
  const json& base = cands[0].card;
  const double conf = o.budgets.selection_confidence >= 0 ? o.budgets.selection_confidence : (cls ? 0.9 : 0.0);
  const std::vector<double> base_outcomes = per_sample_outcomes(baseline, sel, sel.val, cls);
  std::vector<size_t> accepted;
  for (size_t i = 0; i < cands.size(); ++i) {
    json& c = cands[i].card;
    const double drop_val = cls ? 100 * (base["val_accuracy"].get<double>() - c["val_accuracy"].get<double>())
                                : 100 * (c["val_rmse"].get<double>() / base["val_rmse"].get<double>() - 1);
    const DropEstimate est = i == 0 ? DropEstimate{} : paired_drop(base_outcomes, per_sample_outcomes(cands[i].graph, sel, sel.val, cls), cls, conf, o.seed + i);
    // The bootstrap's margin over its own point estimate, added to the reported one (the same
    // predictions; this keeps the two consistent to the last digit).
    const double drop_upper = std::max(drop_val, est.upper - est.drop + drop_val);
    const double drop_test = cls ? 100 * (base["accuracy"].get<double>() - c["accuracy"].get<double>())
                                 : 100 * (c["rmse"].get<double>() / base["rmse"].get<double>() - 1);
    c[cls ? "accuracy_drop_points" : "rmse_increase_pct"] = drop_test;
    c[cls ? "val_accuracy_drop_points" : "val_rmse_increase_pct"] = drop_val;
    json reasons = json::array();
    if (!target_rejects[i].empty()) reasons.push_back(target_rejects[i]);
    c[cls ? "val_accuracy_drop_upper" : "val_rmse_increase_upper_pct"] = drop_upper;
    const std::string bound = conf > 0 ? fmt(" (upper %.0f%% bound ", 100 * conf) + fmt(cls ? "%.2f)" : "%+.2f%%)", drop_upper) : "";
    if (drop_upper > max_drop)
      reasons.push_back(cls ? fmt("validation accuracy drop %.2f", drop_val) + " points" + bound + fmt(" > budget %.2f", max_drop)
                            : fmt("validation RMSE %+.2f%%", drop_val) + bound + fmt(" > budget %.2f%%", max_drop));
    if (o.budgets.max_latency_ms && !c["latency_ms"].is_null() && c["latency_ms"].get<double>() > *o.budgets.max_latency_ms)
      reasons.push_back(fmt("latency %.4f ms", c["latency_ms"].get<double>()) + fmt(" > budget %.4f ms", *o.budgets.max_latency_ms));
    if (o.budgets.max_size_mb && c["size_bytes"].get<double>() / 1e6 > *o.budgets.max_size_mb)
      reasons.push_back(fmt("size %.3f MB", c["size_bytes"].get<double>() / 1e6) + fmt(" > budget %.3f MB", *o.budgets.max_size_mb));
    c["reject_reasons"] = reasons;
    c["status"] = i == 0 ? "baseline" : (reasons.empty() ? "accepted" : "rejected");
    if (reasons.empty()) accepted.push_back(i);
  }
  auto objective = [&](size_t i) {
    const json& c = cands[i].card;
    const json& v = o.objective == "size" ? c["size_bytes"] : o.objective == "energy" ? c["energy_mj_per_inference"] : c["latency_ms"];
    return v.is_null() ? 1e300 : v.get<double>();
  };
  std::optional<size_t> best;
  for (size_t i : accepted) {
    // Within 2% on the objective (timing noise), the more accurate candidate wins.
    if (!best || objective(i) < 0.98 * objective(*best) ||
        (objective(i) <= 1.02 * objective(*best) && card_quality(cands[i].card, "val") > card_quality(cands[*best].card, "val")))
      best = i;
  }
  std::vector<double> qs, ls, ss;
  for (const auto& c : cands) {
    qs.push_back(card_quality(c.card, "test"));
    ls.push_back(c.card["latency_ms"].is_null() ? 1e300 : c.card["latency_ms"].get<double>());
    ss.push_back(c.card["size_bytes"].get<double>());
  }
  for (auto& c : cands) c.card["pareto"] = false;
  json front = json::array();
  for (size_t i : pareto_front(qs, ls, ss)) {
    cands[i].card["pareto"] = true;
    front.push_back(cands[i].card["id"]);
  }
  if (best && *best != 0) cands[*best].card["status"] = "best";

  // 8. ONNX Runtime on the baseline, same threads, timed in the rounds above.
  std::optional<double> ort_ms;
  if (o.ort) {
    ort_ms = ort->p50_ms();
    ort.reset();
    if (ort_ms) {
      for (auto& c : cands) c.card["ort_fp32_latency_ms"] = *ort_ms;
      say(fmt("ONNX Runtime runs the baseline in %.4f ms (p50)", *ort_ms));
    } else {
      say("ONNX Runtime not found (set EDGEOPT_ORT_PYTHON to a python with onnxruntime): no peer latency");
    }
  }

  // 9. The report.
  json rep;
  rep["edgeopt_version"] = "0.1.0";
  {
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    char b[32];
    std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    rep["created"] = b;
  }
  rep["seed"] = o.seed;
  rep["threads"] = o.threads;
  rep["model"] = {{"name", zoo_name.empty() ? fs::path(o.model).stem().string() : zoo_name},
                  {"path", o.model},
                  {"family", family_name(fam)},
                  {"task", cls ? "classification" : "forecast"},
                  {"metric", cls ? "accuracy" : "rmse"}};
  rep["data"] = {{"spec", o.data}, {"name", d.name}, {"eval_samples", d.test.size()}, {"val_samples", sel.val.size()}, {"train_val_samples", d.val.size()}, {"train_val_source", carve ? "holdout from the training split" : "first half of the validation split"},
                 {"provenance", d.provenance}};
  rep["target"] = target.info;
  rep["budgets"] = {{"max_latency_ms", o.budgets.max_latency_ms ? json(*o.budgets.max_latency_ms) : json(nullptr)},
                    {"max_size_mb", o.budgets.max_size_mb ? json(*o.budgets.max_size_mb) : json(nullptr)},
                    {"max_accuracy_drop", max_drop},
                    {"selection_confidence", conf},
                    {"accuracy_drop_unit", cls ? "points (validation split)" : "percent of baseline RMSE (validation split)"},
                    {"accuracy_budget_rule", conf > 0 ? fmt("upper one-sided %.0f%% paired-bootstrap bound of the validation drop <= budget", 100 * conf)
                                                     : std::string("validation drop <= budget")}};
  rep["objective"] = o.objective;
  rep["baseline"] = cands[0].card;
  rep["best"] = best ? cands[*best].card : json(nullptr);
  rep["budgets_met"] = best.has_value();
  json all = json::array();
  for (size_t i = 1; i < cands.size(); ++i) all.push_back(cands[i].card);
  rep["candidates"] = all;
  rep["pareto"] = front;
  if (best) {
    rep["layers"] = layer_latency(baseline, cands[*best].graph, sample, o.threads);
    rep["platforms"] = platform_table(cands[0].card, cands[0].graph, cands[*best].card, cands[*best].graph,
                                      target.host ? target : resolve_target("host", o.threads, o.host_power_w));
    // A GPU, when this build has the CUDA backend and the machine has one: measured, with NVML power.
    std::string gpu_note;
    for (auto& r : cuda_platform_rows(cuda_bench_program(), {{"baseline", cands[0].path.string()},
                                                             {"best", cands[*best].path.string()}},
                                      &gpu_note))
      rep["platforms"].push_back(r);
    if (!gpu_note.empty()) rep["platforms_note"] = gpu_note;
  }
  rep["search"] = {{"mode", o.recipe_file.empty() ? "auto" : "recipe"},
                   {"recipe_file", o.recipe_file},
                   {"evaluated", cands.size() - 1},
                   {"reused", reused},
                   {"resumed", resumed || reused > 0},
                   {"elapsed_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count()}};
  if (best) {
    const json& b = cands[*best].card;
    json sum;
    sum["speedup_vs_baseline"] = base["latency_ms"].get<double>() / b["latency_ms"].get<double>();
    if (ort_ms) sum["speedup_vs_ort_fp32"] = *ort_ms / b["latency_ms"].get<double>();
    sum["size_reduction_pct"] = 100 * (1 - b["size_bytes"].get<double>() / base["size_bytes"].get<double>());
    sum[cls ? "accuracy_drop_points" : "rmse_increase_pct"] = b[cls ? "accuracy_drop_points" : "rmse_increase_pct"];
    rep["summary"] = sum;
  }
  // Drift reference for the deployed model (monitor/drift.h): its inputs and outputs on the
  // validation split, which the edge node compares the live stream against.
  if (best) {
    const Tensor outs = train::predict(cands[*best].graph, sel.val);
    monitor::DriftConfig dc;
    if (sel.val.size() >= 2 * dc.window) {
      json dj = monitor::DriftDetector::fit(sel.val.x, &outs, dc).to_json();
      dj["model"] = cands[*best].card["id"];
      write_json_atomic(out / "drift_reference.json", dj);
      rep["drift_reference"] = "drift_reference.json";
    }
  }
  // The chosen model under a fixed name, for scripts and deployment (removed when none is chosen,
  // so a stale one from an earlier run with other budgets cannot be mistaken for this run's).
  if (best) {
    const fs::path tmp = out / "best.onnx.tmp";
    fs::copy_file(cands[*best].path, tmp, fs::copy_options::overwrite_existing);
    fs::rename(tmp, out / "best.onnx");
  } else {
    fs::remove(out / "best.onnx");
  }
  write_report_files(out, rep);
  return rep;
}

}  // namespace edgeopt::optimize

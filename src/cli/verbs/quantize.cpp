// `edgeopt quantize`: int8 PTQ or QAT to a QDQ ONNX model (or fp16/bf16 weight storage), with the
// fp32 and quantized accuracy (or RMSE) and sizes side by side.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/verbs/train_common.h"
#include "cli/verbs/verbs.h"
#include "core/npy.h"
#include "onnx/export.h"
#include "onnx/import.h"
#include "quantize/calibrate.h"
#include "quantize/lowp_weights.h"
#include "quantize/qat.h"
#include "quantize/sensitivity.h"

namespace edgeopt::cli {

namespace {

struct QuantizeArgs {
  std::string model, data, out, report, method = "ptq", calib = "minmax", dtype = "int8", save_calib, kept_dtype = "fp32";
  double percentile = 99.99;
  double max_drop = -1;
  bool per_channel = false, symmetric = false, no_progress = false, sensitivity = false;
  uint64_t seed = 1;
  quantize::QatOptions qat;
  train::DatasetOptions data_opts;
};

std::string fmt_quality(const quantize::Quality& q) {
  char b[64];
  if (q.higher_is_better) std::snprintf(b, sizeof b, "accuracy %.2f%%", q.value);
  else std::snprintf(b, sizeof b, "RMSE %.4f", q.value);
  return b;
}

nlohmann::json quality_json(const quantize::Quality& q) { return {{"metric", q.name}, {"value", q.value}}; }

void run_quantize(QuantizeArgs& a) {
  using namespace quantize;
  const auto t0 = std::chrono::steady_clock::now();
  EDGEOPT_CHECK_ARG(a.method == "ptq" || a.method == "qat", "--method must be ptq or qat, got '" + a.method + "'");
  EDGEOPT_CHECK_ARG(a.kept_dtype == "fp32" || a.kept_dtype == "fp16" || a.kept_dtype == "bf16",
                    "--kept-dtype must be fp32, fp16 or bf16, got '" + a.kept_dtype + "'");
  EDGEOPT_CHECK_ARG(a.dtype == "int8" || a.dtype == "fp16" || a.dtype == "bf16",
                    "--dtype must be int8, fp16 or bf16, got '" + a.dtype + "'");
  a.data_opts.seed = a.seed;
  Graph model = onnx::load_model(a.model);
  train::DataSplits d = train::load_dataset(a.data, a.data_opts);
  QuantOptions& o = a.qat.quant;
  o.calib = calib_method_from_name(a.calib);
  o.percentile = a.percentile;
  o.per_channel = a.per_channel;
  o.activations = a.symmetric ? ActScheme::kSymmetricI8 : ActScheme::kAsymmetricU8;
  o.seed = a.seed;
  o.progress = !a.no_progress;
  Graph f = prepare_float_graph(model);
  if (o.progress) std::fprintf(stderr, "evaluating the fp32 model on %lld test samples\n", static_cast<long long>(d.test.size()));
  const Quality fp = measure_quality(f, d, "test");
  nlohmann::json rep;
  Graph out;
  if (a.dtype != "int8") {
    LowpReport lr;
    out = store_weights_lowp(f, a.dtype == "fp16" ? DType::kF16 : DType::kBF16, &lr);
    rep["weights_converted"] = lr.converted;
    rep["weights_kept_f32_overflow"] = lr.kept_overflow;
  } else if (a.method == "qat") {
    QatResult r = quantize_qat(model, d, a.qat);
    out = r.qdq;
    const Quality qat = measure_quality(r.fake_quant, d, "test");
    rep["qat_fake_quant_test"] = quality_json(qat);
    for (const auto& p : r.phases) rep["qat_phases"].push_back({{"epochs", p.epochs.size()}, {"best_epoch", p.best_epoch},
                                                                 {"best_val", p.best_val_metric}, {"seconds", p.seconds}});
  } else {
    QuantPlan plan = plan_quantization(f, o);
    Tensor x = calibration_samples(d.train, o.calib_samples, o.seed);
    if (!a.save_calib.empty()) write_npy(a.save_calib, x);
    const bool search = a.max_drop >= 0 || a.sensitivity;
    // Mixed precision re-plans with layers excluded, so it needs every activation's range.
    auto ranges = calibrate(f, search ? plan.activations : plan.calibrated, x, o);
    if (search) {
      MixedPrecision mp = choose_mixed_precision(f, ranges, o, d, a.max_drop >= 0 ? a.max_drop : 1e30, "val");
      out = mp.graph;
      // What mixed precision kept in f32 is exactly the f32 weights left: store them in 16 bits.
      if (a.kept_dtype != "fp32") out = store_weights_lowp(out, a.kept_dtype == "fp16" ? DType::kF16 : DType::kBF16);
      for (const auto& s : mp.sensitivity) {
        std::fprintf(stderr, "sensitivity %-24s %-8s val drop %+.3f\n", s.node.c_str(), s.op_type.c_str(), s.drop);
        rep["sensitivity"].push_back({{"node", s.node}, {"op_type", s.op_type}, {"val_quality", s.quality}, {"val_drop", s.drop}});
      }
      rep["kept_float"] = mp.kept_float;
      rep["val_drop"] = mp.drop;
      if (a.max_drop >= 0 && mp.drop > a.max_drop)
        std::fprintf(stderr, "warning: even with every layer in f32 the val drop is %.3f > %.3f\n", mp.drop, a.max_drop);
    } else {
      out = emit_qdq(f, plan, activation_qparams(plan, ranges, o), o);
    }
    for (const auto& [name, r] : ranges) rep["ranges"][name] = {r.lo, r.hi};
  }
  out.metadata["edgeopt.quantize.method"] = a.dtype == "int8" ? a.method : a.dtype;
  onnx::save_model(out, a.out);
  if (o.progress) std::fprintf(stderr, "evaluating the quantized model on %lld test samples\n", static_cast<long long>(d.test.size()));
  const Quality qq = measure_quality(out, d, "test");
  const auto in_size = static_cast<double>(std::filesystem::file_size(a.model));
  const auto out_size = static_cast<double>(std::filesystem::file_size(a.out));
  const double drop = quality_drop(fp, qq);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fp32:      %s  size %.0f bytes\n", fmt_quality(fp).c_str(), in_size);
  std::printf("%-9s  %s  size %.0f bytes (%.1f%% of fp32)\n", (a.dtype == "int8" ? a.method + " int8" : a.dtype).c_str(),
              fmt_quality(qq).c_str(), out_size, 100.0 * out_size / in_size);
  std::printf("drop:      %.3f %s on the test split; wrote %s in %.1f s\n", drop,
              fp.higher_is_better ? "points" : "% RMSE", a.out.c_str(), secs);
  if (!a.report.empty()) {
    rep["model"] = a.model;
    rep["out"] = a.out;
    rep["data"] = d.name;
    rep["method"] = a.method;
    rep["dtype"] = a.dtype;
    rep["calib"] = a.calib;
    rep["per_channel"] = a.per_channel;
    rep["activations"] = a.symmetric ? "symmetric_i8" : "asymmetric_u8";
    rep["calib_samples"] = o.calib_samples;
    rep["kept_dtype"] = a.kept_dtype;
    rep["fp32_test"] = quality_json(fp);
    rep["quantized_test"] = quality_json(qq);
    rep["test_drop"] = drop;
    rep["drop_unit"] = fp.higher_is_better ? "accuracy points" : "percent of fp32 RMSE";
    rep["fp32_bytes"] = in_size;
    rep["quantized_bytes"] = out_size;
    rep["size_ratio"] = out_size / in_size;
    rep["seconds"] = secs;
    std::ofstream(a.report) << rep.dump(2) << "\n";
  }
}

}  // namespace

void add_quantize_verb(CLI::App& app) {
  auto a = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand("quantize", "int8 PTQ/QAT to a QDQ ONNX model, or fp16/bf16 weight storage");
  cmd->add_option("model", a->model, "MODEL.onnx (f32)")->required();
  cmd->add_option("--data", a->data, dataset_spec_help())->required();
  cmd->add_option("--out", a->out, "Where to write the quantized model (ONNX)")->required();
  cmd->add_option("--method", a->method, "ptq (calibration only) or qat (fine-tune with fake quantization)")->default_val("ptq");
  cmd->add_option("--calib", a->calib, "Activation ranges: minmax, moving_average, percentile, entropy or mse")->default_val("minmax");
  cmd->add_option("--percentile", a->percentile, "For --calib percentile")->default_val(99.99);
  cmd->add_flag("--per-channel", a->per_channel, "One weight scale per output channel (else one per tensor)");
  cmd->add_flag("--symmetric-activations", a->symmetric, "Activations as symmetric int8 (default: asymmetric uint8)");
  cmd->add_option("--dtype", a->dtype, "int8 (QDQ), fp16 (weight storage, f32 compute) or bf16 (weight storage; bf16 compute with f32 sums on CPUs with AVX512-BF16)")->default_val("int8");
  cmd->add_option("--calib-samples", a->qat.quant.calib_samples, "Training samples used for calibration")->default_val(512);
  cmd->add_option("--max-accuracy-drop", a->max_drop,
                  "PTQ: keep the most sensitive layers f32 until the val drop is at most this (accuracy points, "
                  "or percent RMSE for regression)");
  cmd->add_option("--kept-dtype", a->kept_dtype,
                  "With --max-accuracy-drop: weight storage of the layers kept out of int8 (fp32, fp16 or bf16)")
      ->default_val("fp32");
  cmd->add_flag("--sensitivity", a->sensitivity, "PTQ: report each layer's drop when only it is int8");
  cmd->add_option("--epochs", a->qat.epochs, "QAT epochs")->default_val(2);
  cmd->add_option("--lr", a->qat.lr, "QAT learning rate")->default_val(1e-4);
  cmd->add_option("--batch", a->qat.batch, "QAT batch size")->default_val(128);
  cmd->add_option("--freeze-bn-epoch", a->qat.freeze_bn_epoch,
                  "QAT: train with BatchNorm (batch statistics) for this many epochs, then fold it (0: fold first)")
      ->default_val(0);
  cmd->add_flag("--learn-scales", a->qat.learn_scales, "QAT: learn the quantization scales (LSQ)");
  cmd->add_option("--max-steps-per-epoch", a->qat.max_steps_per_epoch, "QAT: cap steps per epoch (quick runs)");
  cmd->add_option("--seed", a->seed, "Seed of the train/val split (use the training seed) and of the calibration subset")
      ->default_val(1);
  cmd->add_option("--save-calib", a->save_calib, "PTQ: write the calibration samples to this .npy (to compare tools)");
  cmd->add_option("--report", a->report, "Write a JSON report");
  cmd->add_flag("--no-progress", a->no_progress, "No progress bar");
  add_dataset_flags(cmd, a->data_opts);
  cmd->footer(
      "Examples:\n"
      "  edgeopt quantize cnn.onnx --data fashion-mnist --method ptq --calib entropy --per-channel --out cnn.int8.onnx\n"
      "  edgeopt quantize cnn.onnx --data fashion-mnist --method qat --epochs 1 --per-channel --out cnn.qat.onnx\n"
      "  edgeopt quantize lstm.onnx --data seattle-weather --max-accuracy-drop 2 --out lstm.int8.onnx\n"
      "  edgeopt quantize cnn.onnx --data fashion-mnist --dtype fp16 --out cnn.fp16.onnx");
  cmd->callback([a] { run_quantize(*a); });
}

}  // namespace edgeopt::cli

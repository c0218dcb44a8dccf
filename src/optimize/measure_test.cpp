// OrtTimer's protocol and process handling, with stand-in interpreters (shell scripts) instead of a
// Python with onnxruntime: one that answers every request, one that never starts, one that dies
// after starting. The real ONNX Runtime path is exercised by bench/optimize_families.py.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "onnx/export.h"
#include "optimize/measure.h"
#include "train/zoo/zoo.h"

namespace edgeopt::optimize {
namespace {

namespace fs = std::filesystem;

// Points EDGEOPT_ORT_PYTHON at `script` and HOME at an empty directory (so no real venv is tried).
class FakePython {
 public:
  explicit FakePython(const std::string& body) {
    dir_ = fs::temp_directory_path() / ("edgeopt_ort_fake_" + std::to_string(::getpid()) + "_" + std::to_string(n_++));
    fs::create_directories(dir_ / "home");
    const fs::path py = dir_ / "python";
    std::ofstream(py) << "#!/bin/sh\n" << body;
    fs::permissions(py, fs::perms::owner_all);
    if (const char* h = std::getenv("HOME")) old_home_ = h;
    if (const char* e = std::getenv("EDGEOPT_ORT_PYTHON")) old_py_ = e;
    setenv("HOME", (dir_ / "home").c_str(), 1);
    setenv("EDGEOPT_ORT_PYTHON", py.c_str(), 1);
  }
  ~FakePython() {
    if (old_home_) setenv("HOME", old_home_->c_str(), 1);
    if (old_py_) setenv("EDGEOPT_ORT_PYTHON", old_py_->c_str(), 1);
    else unsetenv("EDGEOPT_ORT_PYTHON");
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir() const { return dir_; }

 private:
  static inline int n_ = 0;
  fs::path dir_;
  std::optional<std::string> old_home_, old_py_;
};

Tensor sample() { return Tensor::from_vector<float>({1, 2}, {0.5f, -0.5f}); }

TEST(OrtTimer, CollectsEveryRoundAndReportsTheMedian) {
  // Answers "n" with n times: 0.25 ms for the first two requests, 2.0 ms from the third on.
  FakePython py(
      "echo READY\nk=0\nwhile read n; do\n  [ \"$n\" -le 0 ] && exit 0\n  k=$((k+1)); t=0.25\n"
      "  [ $k -ge 3 ] && t=2.0\n  out=\"\"; i=0\n  while [ $i -lt $n ]; do out=\"$out $t\"; i=$((i+1)); done\n"
      "  echo $out\ndone\n");
  OrtTimer t("model.onnx", sample(), 1, py.dir());
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t.p50_ms().has_value());
  for (int r = 0; r < 3; ++r) ASSERT_TRUE(t.run(4));
  ASSERT_TRUE(t.p50_ms().has_value());
  EXPECT_DOUBLE_EQ(*t.p50_ms(), 0.25);  // 8 of 12 runs at 0.25 ms
  ASSERT_TRUE(t.run(20));              // 2.0 ms each
  EXPECT_DOUBLE_EQ(*t.p50_ms(), 2.0);   // now 24 of 32
}

TEST(OrtTimer, AnInterpreterThatCannotLoadIsNotUsed) {
  FakePython py("echo 'ModuleNotFoundError: onnxruntime' >&2\nexit 1\n");
  OrtTimer t("model.onnx", sample(), 1, py.dir());
  EXPECT_FALSE(t.ok());
  EXPECT_FALSE(t.run(5));
  EXPECT_FALSE(t.p50_ms().has_value());
}

TEST(OrtTimer, AProcessThatDiesMidwayEndsTheTimingWithoutHanging) {
  FakePython py("echo READY\nread n\necho 0.5\nexit 0\n");
  OrtTimer t("model.onnx", sample(), 1, py.dir());
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t.run(1));
  EXPECT_FALSE(t.run(1));  // gone: no answer, no SIGPIPE
  EXPECT_FALSE(t.ok());
  EXPECT_DOUBLE_EQ(*t.p50_ms(), 0.5);  // what it timed before is kept
}

// The GPU rows of the platform table come from the CUDA bench program's JSON; here fake programs
// stand in for it (the real one runs on a lent GPU: scripts/gpu-check.sh).
TEST(CudaPlatformRows, ParseTheBenchProgramsJsonOrSayWhyNot) {
  const fs::path dir = fs::temp_directory_path() / ("edgeopt_cuda_rows_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto program = [&](const std::string& name, const std::string& body) {
    const fs::path p = dir / name;
    std::ofstream(p) << "#!/bin/sh\n" << body;
    fs::permissions(p, fs::perms::owner_all);
    return p.string();
  };
  const std::string good = program(
      "good", "echo 'loading...'\n"
              "echo '{\"gpu\":\"NVIDIA H100\",\"dtype\":\"fp32\",\"model\":\"'$1'\",\"latency_ms\":{\"p50\":0.5},"
              "\"throughput_per_s\":2500,\"power_w\":120.5,\"energy_mj_per_inference\":0.06,\"energy_method\":\"nvml energy "
              "counter\",\"arena_bytes\":1048576,\"weight_bytes\":2097152,\"gpu_memory_used_mb\":900}'\n");
  std::string note;
  const auto rows = cuda_platform_rows(good, {{"baseline", "/m/base.onnx"}, {"best", "/m/best.onnx"}}, &note);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(note.empty()) << note;
  EXPECT_EQ(rows[0]["platform"], "cuda (NVIDIA H100)");
  EXPECT_EQ(rows[1]["variant"], "best");
  EXPECT_DOUBLE_EQ(rows[0]["latency_ms"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(rows[0]["power_w"].get<double>(), 120.5);
  EXPECT_DOUBLE_EQ(rows[0]["memory_mb"].get<double>(), 3.0);
  EXPECT_EQ(rows[0]["source"], "measured (CUDA, NVML)");

  const std::string no_gpu = program("nogpu", "echo 'edgeopt: error: FailedPrecondition: --device cuda: no CUDA device' >&2\nexit 1\n");
  note.clear();
  EXPECT_TRUE(cuda_platform_rows(no_gpu, {{"baseline", "/m/base.onnx"}}, &note).empty());
  EXPECT_NE(note.find("no CUDA device"), std::string::npos) << note;

  const std::string garbage = program("garbage", "echo 'not json'\n");
  note.clear();
  EXPECT_TRUE(cuda_platform_rows(garbage, {{"best", "/m/best.onnx"}}, &note).empty());
  EXPECT_NE(note.find("best: not json"), std::string::npos) << note;

  note.clear();
  EXPECT_TRUE(cuda_platform_rows("", {{"best", "/m/best.onnx"}}, &note).empty());
  EXPECT_NE(note.find("without the CUDA backend"), std::string::npos) << note;
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// The real CUDA bench program of this build on a real model: measured rows where a GPU answers,
// else exactly the reason the program gives. No skip: without the backend the note must say so,
// without a GPU the program's own "no CUDA device" error must come through, and with
// EDGEOPT_REQUIRE_CUDA set (scripts/gpu-check.sh on a lent GPU) rows are required.
// EDGEOPT_CUDA_BENCH_PROGRAM overrides the program built here (the GPU machine's copy).
TEST(CudaPlatformRows, TheRealBenchProgramMeasuresOnAGpuOrSaysWhyNot) {
  std::string prog;
#ifdef EDGEOPT_CUDA_BENCH_PATH
  prog = EDGEOPT_CUDA_BENCH_PATH;
#endif
  if (const char* e = std::getenv("EDGEOPT_CUDA_BENCH_PROGRAM")) prog = e;
  const bool require_gpu = std::getenv("EDGEOPT_REQUIRE_CUDA") != nullptr;
  const fs::path model = fs::temp_directory_path() / ("edgeopt_cuda_rows_model_" + std::to_string(::getpid()) + ".onnx");
  onnx::save_model(train::build_zoo_model("safety_mlp", {.input_shape = {24}, .num_outputs = 2}), model.string());
  std::string note;
  const auto rows = cuda_platform_rows(prog, {{"baseline", model.string()}, {"best", model.string()}}, &note);
  std::error_code ec;
  fs::remove(model, ec);
  if (prog.empty()) {
    EXPECT_FALSE(require_gpu) << "EDGEOPT_REQUIRE_CUDA is set but this build has no CUDA bench program";
    EXPECT_TRUE(rows.empty());
    EXPECT_NE(note.find("without the CUDA backend"), std::string::npos) << note;
    return;
  }
  if (rows.empty()) {
    EXPECT_FALSE(require_gpu) << "a GPU was required: " << note;
    EXPECT_NE(note.find("baseline: "), std::string::npos) << note;
    EXPECT_NE(note.find("no CUDA device"), std::string::npos) << "the only acceptable reason here: " << note;
    return;
  }
  ASSERT_EQ(rows.size(), 2u) << note;
  EXPECT_TRUE(note.empty()) << note;
  for (const auto& r : rows) {
    EXPECT_EQ(r["platform"].get<std::string>().rfind("cuda (", 0), 0u) << r.dump();
    EXPECT_GT(r["latency_ms"].get<double>(), 0.0) << r.dump();
    EXPECT_GT(r["throughput_per_s"].get<double>(), 0.0) << r.dump();
    EXPECT_GT(r["memory_mb"].get<double>(), 0.0) << r.dump();
    // NVML is present wherever an NVIDIA driver is: power and energy are numbers.
    EXPECT_TRUE(r["power_w"].is_number() && r["power_w"].get<double>() > 0) << r.dump();
    EXPECT_TRUE(r["energy_mj_per_inference"].is_number()) << r.dump();
    std::printf("%s\n", r.dump().c_str());
  }
}

}  // namespace
}  // namespace edgeopt::optimize

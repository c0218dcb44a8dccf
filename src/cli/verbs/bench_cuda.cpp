// `edgeopt bench MODEL --device cuda [--dtype fp32|tf32|fp16]`: runs edgeopt-cuda-bench, the CUDA
// backend's own program (src/cuda/cuda_bench_main.cpp, docs/cuda.md), installed beside edgeopt.
// exec, not linking: the CLI stays free of the CUDA libraries. Without the backend built (no nvcc or
// cuDNN at configure time, or EDGEOPT_CUDA=OFF) the program is absent: a clear error.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "cli/verbs/bench_cuda.h"
#include "core/error.h"
#include "optimize/measure.h"

namespace edgeopt::cli {

void run_bench_cuda(const CudaBenchArgs& a) {
  // The same lookup the optimize report uses for its GPU rows: beside this program.
  const std::string exe = optimize::cuda_bench_program();
  if (exe.empty())
    throw_error(ErrorCode::kUnimplemented,
                "--device cuda: this edgeopt was built without the CUDA backend (no edgeopt-cuda-bench beside "
                "edgeopt; configure with -DEDGEOPT_CUDA=ON on a machine with nvcc, cuBLAS and cuDNN; see "
                "docs/cuda.md)");
  std::vector<std::string> args = {exe,        a.model, "--dtype", a.dtype, "--batch", std::to_string(a.batch),
                                   "--iters",  std::to_string(a.iters), "--warmup", std::to_string(a.warmup),
                                   "--seed",   std::to_string(a.seed)};
  if (a.json) args.push_back("--json");
  if (!a.optimize) args.push_back("--no-optimize");
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  execv(exe.c_str(), argv.data());
  throw_error(ErrorCode::kInternal, "--device cuda: cannot run " + exe + ": " + std::strerror(errno));
}

}  // namespace edgeopt::cli

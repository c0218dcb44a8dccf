#include "optimize/measure.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/npy.h"
#include "core/thread_pool.h"
#include "runtime/session.h"

namespace edgeopt::optimize {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::map<std::string, Tensor> feeds_for(const Graph& g, const Tensor& sample) {
  for (const auto& vi : g.inputs)
    if (!g.is_initializer(vi.name)) return {{vi.name, sample}};
  throw_error(ErrorCode::kInvalidArgument, "model '" + g.name + "' has no runtime input");
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return v[k];
}

}  // namespace

std::vector<LatencyStats> interleaved_latency(const std::vector<const Graph*>& graphs, const Tensor& sample,
                                              int rounds, int runs, const std::function<void()>& after_round) {
  std::vector<std::unique_ptr<runtime::Session>> sessions;
  std::vector<std::map<std::string, Tensor>> feeds;
  for (const Graph* g : graphs) {
    sessions.push_back(std::make_unique<runtime::Session>(*g));
    feeds.push_back(feeds_for(*g, sample));
  }
  for (size_t i = 0; i < sessions.size(); ++i)
    for (int w = 0; w < 5; ++w) sessions[i]->run(feeds[i]);
  std::vector<std::vector<double>> ms(graphs.size());
  for (int r = 0; r < std::max(rounds, 1); ++r) {
    for (size_t i = 0; i < sessions.size(); ++i) {
      for (int k = 0; k < std::max(runs, 1); ++k) {
        const auto t0 = std::chrono::steady_clock::now();
        sessions[i]->run(feeds[i]);
        ms[i].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
    }
    if (after_round) after_round();
  }
  std::vector<LatencyStats> out;
  for (const auto& v : ms) out.push_back({pct(v, 50), pct(v, 99), static_cast<int64_t>(v.size())});
  return out;
}

MemoryStats session_memory(const Graph& g, const Tensor& sample) {
  runtime::Session s(g);
  s.run(feeds_for(g, sample));
  const auto& st = s.stats();
  return {static_cast<double>(st.peak_bytes + st.initializer_bytes) / (1024.0 * 1024.0)};
}

json layer_latency(const Graph& baseline, const Graph& best, const Tensor& sample, int threads) {
  const int saved = num_threads();
  set_num_threads(threads);
  auto profile = [&](const Graph& g) {
    runtime::SessionOptions so;
    so.profile = true;
    runtime::Session s(g, so);
    auto f = feeds_for(g, sample);
    for (int i = 0; i < 5; ++i) s.run(f);
    const auto warm = s.timings();
    const int runs = 50;
    for (int i = 0; i < runs; ++i) s.run(f);
    std::vector<std::pair<std::string, std::pair<std::string, double>>> rows;
    const auto& t = s.timings();
    for (size_t i = 0; i < t.size(); ++i)
      rows.push_back({t[i].node, {t[i].op_type, (t[i].total_ms - (i < warm.size() ? warm[i].total_ms : 0)) / runs}});
    return rows;
  };
  const auto b = profile(baseline);
  const auto o = profile(best);
  set_num_threads(saved);
  json rows = json::array();
  std::map<std::string, size_t> idx;
  for (const auto& [name, v] : b) {
    idx[name] = rows.size();
    rows.push_back({{"name", name}, {"op_type", v.first}, {"baseline_ms", v.second}, {"best_ms", nullptr}});
  }
  for (const auto& [name, v] : o) {
    auto it = idx.find(name);
    if (it != idx.end()) rows[it->second]["best_ms"] = v.second;
    else rows.push_back({{"name", name}, {"op_type", v.first}, {"baseline_ms", nullptr}, {"best_ms", v.second}});
  }
  auto key = [](const json& r) {
    return std::max(r["baseline_ms"].is_null() ? 0.0 : r["baseline_ms"].get<double>(),
                    r["best_ms"].is_null() ? 0.0 : r["best_ms"].get<double>());
  };
  std::vector<json> v(rows.begin(), rows.end());
  std::stable_sort(v.begin(), v.end(), [&](const json& x, const json& y) { return key(x) > key(y); });
  return json(v);
}

namespace {

std::vector<std::string> ort_pythons() {
  std::vector<std::string> pythons;
  if (const char* p = std::getenv("EDGEOPT_ORT_PYTHON"); p && *p) pythons.push_back(p);
  if (const char* h = std::getenv("HOME"); h && *h) {
    pythons.push_back(std::string(h) + "/.cache/edgeopt-bench-venv/bin/python");
    pythons.push_back(std::string(h) + "/.cache/edgeopt-venv/bin/python");
  }
  return pythons;
}

// Reads one line from the child (without the newline); false at EOF.
bool read_line(void* f, std::string& line) {
  char* buf = nullptr;
  size_t cap = 0;
  const ssize_t n = getline(&buf, &cap, static_cast<FILE*>(f));
  if (n >= 0) line.assign(buf, static_cast<size_t>(n) - (n > 0 && buf[n - 1] == '\n' ? 1 : 0));
  std::free(buf);
  return n >= 0;
}

}  // namespace

OrtTimer::OrtTimer(const std::string& model_path, const Tensor& sample, int threads, const fs::path& scratch_dir) {
  npy_ = scratch_dir / "ort_sample.npy";
  script_ = scratch_dir / "ort_rounds.py";
  write_npy(npy_.string(), sample);
  {
    std::ofstream f(script_);
    f << "import sys, time, numpy as np, onnxruntime as ort\n"
         "model, x, threads = sys.argv[1], np.load(sys.argv[2]), int(sys.argv[3])\n"
         "so = ort.SessionOptions(); so.intra_op_num_threads = threads; so.inter_op_num_threads = 1\n"
         "s = ort.InferenceSession(model, so, providers=['CPUExecutionProvider'])\n"
         "feed = {s.get_inputs()[0].name: x}\n"
         "for _ in range(20): s.run(None, feed)\n"
         "print('READY', flush=True)\n"
         "for line in sys.stdin:\n"
         "    n = int(line)\n"
         "    if n <= 0: break\n"
         "    t = []\n"
         "    for _ in range(n):\n"
         "        t0 = time.perf_counter(); s.run(None, feed); t.append((time.perf_counter() - t0) * 1e3)\n"
         "    print(' '.join('%.6f' % v for v in t), flush=True)\n";
  }
  for (const auto& py : ort_pythons()) {
    if (!fs::exists(py)) continue;
    // Requests go over a socket (send with MSG_NOSIGNAL: a child that died is an error here, not
    // a SIGPIPE that ends this process); replies come back over a pipe.
    int in_pipe[2], out_pipe[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, in_pipe) != 0) continue;
    if (pipe(out_pipe) != 0) {
      close(in_pipe[0]);
      close(in_pipe[1]);
      continue;
    }
    const std::string th = std::to_string(threads);
    const pid_t pid = fork();
    if (pid == 0) {  // child: stdin from us, stdout to us, stderr discarded
      dup2(in_pipe[0], 0);
      dup2(out_pipe[1], 1);
      const int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) dup2(devnull, 2);
      close(in_pipe[1]);
      close(out_pipe[0]);
      execl(py.c_str(), py.c_str(), script_.c_str(), model_path.c_str(), npy_.c_str(), th.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (pid < 0) {
      close(in_pipe[1]);
      close(out_pipe[0]);
      continue;
    }
    pid_ = pid;
    to_child_ = in_pipe[1];
    from_child_ = fdopen(out_pipe[0], "r");
    std::string line;
    if (from_child_ && read_line(from_child_, line) && line == "READY") return;
    if (!from_child_) close(out_pipe[0]);
    stop();
  }
}

OrtTimer::~OrtTimer() {
  stop();
  std::error_code ec;
  fs::remove(npy_, ec);
  fs::remove(script_, ec);
}

void OrtTimer::stop() {
  if (to_child_ >= 0) {
    const char quit[] = "0\n";
    (void)!send(to_child_, quit, sizeof quit - 1, MSG_NOSIGNAL);
    close(to_child_);
    to_child_ = -1;
  }
  if (from_child_) {
    std::fclose(static_cast<FILE*>(from_child_));
    from_child_ = nullptr;
  }
  if (pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == 0) {  // still running: it got EOF on stdin, give it a moment
      for (int i = 0; i < 50 && waitpid(pid_, &status, WNOHANG) == 0; ++i) usleep(20000);
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
    }
    pid_ = -1;
  }
}

bool OrtTimer::run(int runs) {
  if (!ok()) return false;
  const std::string cmd = std::to_string(std::max(runs, 1)) + "\n";
  std::string line;
  if (send(to_child_, cmd.data(), cmd.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(cmd.size()) ||
      !read_line(from_child_, line)) {
    stop();
    return false;
  }
  std::istringstream in(line);
  double v = 0;
  while (in >> v) ms_.push_back(v);
  return true;
}

std::optional<double> OrtTimer::p50_ms() const {
  if (ms_.empty()) return std::nullopt;
  return pct(ms_, 50);
}

}  // namespace edgeopt::optimize

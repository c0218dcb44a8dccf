#include "train/loop/progress.h"

#include <unistd.h>

#include <cstdio>

namespace edgeopt::train {

namespace {
std::string hms(double s) {
  if (s < 0 || s > 1e7) return "?";
  int t = static_cast<int>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%d:%02d", t / 60, t % 60);
  return buf;
}
}  // namespace

bool Progress::stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, int64_t total, double items_per_step, bool enabled)
    : label_(std::move(label)), total_(total > 0 ? total : 1), items_per_step_(items_per_step),
      enabled_(enabled), tty_(stderr_is_terminal()), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

std::string Progress::line(int64_t done, const std::string& info) const {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double frac = static_cast<double>(done) / static_cast<double>(total_);
  std::string s = label_;
  if (tty_) {
    const int width = 24;
    int fill = static_cast<int>(frac * width);
    s += " [" + std::string(static_cast<size_t>(fill), '=') + (fill < width ? ">" : "") +
         std::string(static_cast<size_t>(std::max(0, width - fill - 1)), ' ') + "]";
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, " %3d%% %lld/%lld", static_cast<int>(frac * 100), static_cast<long long>(done),
                static_cast<long long>(total_));
  s += buf;
  if (!info.empty()) s += "  " + info;
  if (items_per_step_ > 0 && el > 0) {
    std::snprintf(buf, sizeof buf, "  %.0f samples/s", done * items_per_step_ / el);
    s += buf;
  }
  if (done > 0 && done < total_) s += "  ETA " + hms(el / frac - el);
  else s += "  " + hms(el);
  return s;
}

void Progress::update(int64_t done, const std::string& info) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done < total_) return;
    last_draw_ = now;
    std::fprintf(stderr, "\r\033[K%s", line(done, info).c_str());
    std::fflush(stderr);
  } else {
    int decile = static_cast<int>(10 * done / total_);
    if (decile == last_plain_decile_ || decile == 0) return;
    last_plain_decile_ = decile;
    std::fprintf(stderr, "%s\n", line(done, info).c_str());
  }
}

void Progress::finish(const std::string& info) {
  if (!enabled_) return;
  if (tty_) std::fprintf(stderr, "\r\033[K%s\n", line(total_, info).c_str());
  else std::fprintf(stderr, "%s\n", line(total_, info).c_str());
  std::fflush(stderr);
}

}  // namespace edgeopt::train

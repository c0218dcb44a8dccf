// A progress bar for long work: redraws one line on a terminal, prints plain lines otherwise
// (logs, CI), never more often than every 100 ms.
//
//   Progress p("epoch 1/10", total_steps);
//   p.update(step, "loss 0.312");   // adds samples/s and ETA itself when items_per_step is set
//   p.finish("val acc 0.91");
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace edgeopt::train {

class Progress {
 public:
  Progress(std::string label, int64_t total, double items_per_step = 0, bool enabled = true);
  void update(int64_t done, const std::string& info = "");
  void finish(const std::string& info = "");
  static bool stderr_is_terminal();

 private:
  std::string line(int64_t done, const std::string& info) const;
  std::string label_;
  int64_t total_;
  double items_per_step_;
  bool enabled_, tty_;
  int last_plain_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace edgeopt::train

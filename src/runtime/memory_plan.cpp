#include "runtime/memory_plan.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <string>

#include "core/error.h"

namespace edgeopt::runtime {
namespace {

size_t aligned(size_t bytes, size_t alignment) { return (bytes + alignment - 1) / alignment * alignment; }

bool overlap_in_time(const BufferLifetime& a, const BufferLifetime& b) {
  return a.first <= b.last && b.first <= a.last;
}

void check_buffers(std::span<const BufferLifetime> buffers, size_t alignment) {
  EDGEOPT_CHECK_ARG(alignment > 0, "memory plan alignment must be > 0");
  for (size_t i = 0; i < buffers.size(); ++i)
    EDGEOPT_CHECK_ARG(buffers[i].last >= buffers[i].first,
                      "buffer " + std::to_string(i) + " has last use " + std::to_string(buffers[i].last) +
                          " before its first use " + std::to_string(buffers[i].first));
}

}  // namespace

MemoryPlan plan_memory_greedy(std::span<const BufferLifetime> buffers, size_t alignment) {
  check_buffers(buffers, alignment);
  const size_t n = buffers.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // Largest first (ties: earlier first use, then index) so the big buffers define the layout.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (buffers[a].bytes != buffers[b].bytes) return buffers[a].bytes > buffers[b].bytes;
    return buffers[a].first < buffers[b].first;
  });
  MemoryPlan plan;
  plan.offsets.assign(n, 0);
  std::vector<size_t> placed;
  placed.reserve(n);
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of time-overlapping placed buffers
  for (size_t i : order) {
    const size_t size = aligned(buffers[i].bytes, alignment);
    busy.clear();
    for (size_t j : placed)
      if (overlap_in_time(buffers[i], buffers[j]))
        busy.emplace_back(plan.offsets[j], plan.offsets[j] + aligned(buffers[j].bytes, alignment));
    std::sort(busy.begin(), busy.end());
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& [begin, end] : busy) {
      if (begin > cursor && begin - cursor >= size && begin - cursor < best_gap) {
        best = cursor;
        best_gap = begin - cursor;
      }
      cursor = std::max(cursor, end);
    }
    plan.offsets[i] = best != SIZE_MAX ? best : cursor;  // else on top of everything live
    plan.arena_bytes = std::max(plan.arena_bytes, plan.offsets[i] + size);
    placed.push_back(i);
  }
  return plan;
}

size_t live_peak_bytes(std::span<const BufferLifetime> buffers, size_t alignment) {
  check_buffers(buffers, alignment);
  std::map<int64_t, int64_t> delta;  // step -> change of live bytes
  for (const auto& b : buffers) {
    delta[b.first] += static_cast<int64_t>(aligned(b.bytes, alignment));
    delta[b.last + 1] -= static_cast<int64_t>(aligned(b.bytes, alignment));
  }
  int64_t live = 0, peak = 0;
  for (const auto& [step, d] : delta) {
    live += d;
    peak = std::max(peak, live);
  }
  return static_cast<size_t>(peak);
}

bool plan_is_valid(std::span<const BufferLifetime> buffers, const MemoryPlan& plan, size_t alignment) {
  if (plan.offsets.size() != buffers.size()) return false;
  for (size_t i = 0; i < buffers.size(); ++i) {
    const size_t end_i = plan.offsets[i] + aligned(buffers[i].bytes, alignment);
    if (plan.offsets[i] % alignment != 0 || end_i > plan.arena_bytes) return false;
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      if (!overlap_in_time(buffers[i], buffers[j]) || buffers[i].bytes == 0 || buffers[j].bytes == 0) continue;
      const size_t end_j = plan.offsets[j] + aligned(buffers[j].bytes, alignment);
      if (plan.offsets[i] < end_j && plan.offsets[j] < end_i) return false;
    }
  }
  return true;
}

}  // namespace edgeopt::runtime

// Static memory plan: every activation gets an offset in one arena so that buffers alive at the
// same step never overlap (tflite-micro's GreedyMemoryPlanner): buffers are placed largest first,
// each into the smallest gap (best fit) left between the already-placed buffers whose lifetimes
// overlap its own, or on top of them when no gap fits.
//
//   std::vector<BufferLifetime> b = {{.bytes = 4096, .first = 0, .last = 2},
//                                    {.bytes = 1024, .first = 1, .last = 1}};
//   MemoryPlan p = plan_memory_greedy(b);   // p.offsets[i], p.arena_bytes
//
// Steps are node positions in execution order; a buffer is live on [first, last], both inclusive
// (it is written at `first` and read for the last time at `last`). Offsets are multiples of
// `alignment`; sizes are rounded up to it. The arena is at least the largest live total at any
// step (live_peak_bytes) and at most the sum of all buffers. Throws InvalidArgument when
// last < first or alignment is 0. Pure function, thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace edgeopt::runtime {

struct BufferLifetime {
  size_t bytes = 0;
  int64_t first = 0;  // step that writes it
  int64_t last = 0;   // last step that reads it (inclusive)
};

struct MemoryPlan {
  std::vector<size_t> offsets;  // per buffer, in input order
  size_t arena_bytes = 0;       // the arena size the plan needs
};

MemoryPlan plan_memory_greedy(std::span<const BufferLifetime> buffers, size_t alignment = 64);

// The largest total of (aligned) bytes live at one step: a lower bound for any plan.
size_t live_peak_bytes(std::span<const BufferLifetime> buffers, size_t alignment = 64);

// True when no two buffers that are live at the same step overlap in [offset, offset + bytes)
// and every buffer fits in the arena.
bool plan_is_valid(std::span<const BufferLifetime> buffers, const MemoryPlan& plan, size_t alignment = 64);

}  // namespace edgeopt::runtime

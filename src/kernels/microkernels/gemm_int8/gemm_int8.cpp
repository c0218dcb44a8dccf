// The int8 GEMM driver, packing, the portable scalar microkernel and the scalar epilogue. The x86
// microkernels live in gemm_int8_x86.cpp (target-attributed: Debian's Highway 1.0 has no
// vpdpbusd op, and one binary must still run on CPUs without AVX-512).
#include "kernels/microkernels/gemm_int8/gemm_int8.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/thread_pool.h"
#include "kernels/microkernels/gemm_int8/gemm_int8_internal.h"
#include "kernels/microkernels/gemm_int8/interleave_u8.h"
#include "kernels/quant/requantize.h"

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace edgeopt::kernels::gemm_int8 {

bool has_avx512_vbmi() {
#if defined(__x86_64__)
  static const bool vbmi = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vbmi");
  return vbmi;
#else
  return false;
#endif
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512Vnni:
      return "avx512vnni";
    case Isa::kNeonDot:
      return "neondot";
  }
  return "?";
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> v{Isa::kScalar};
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) v.push_back(Isa::kAvx2);
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("bmi2"))
    v.push_back(Isa::kAvx512Vnni);
#endif
#if defined(__aarch64__) && defined(__linux__)
  constexpr unsigned long kHwcapAsimdDp = 1ul << 20;  // HWCAP_ASIMDDP (asm/hwcap.h)
  if (getauxval(AT_HWCAP) & kHwcapAsimdDp) v.push_back(Isa::kNeonDot);
#endif
  return v;
}

namespace {
std::atomic<int> g_forced_isa{-1};
}  // namespace

void force_isa(Isa isa) { g_forced_isa.store(static_cast<int>(isa)); }
void reset_forced_isa() { g_forced_isa.store(-1); }

Isa default_isa() {
  const int forced = g_forced_isa.load(std::memory_order_relaxed);
  if (forced >= 0) return static_cast<Isa>(forced);
  static const Isa isa = [] {
    const std::vector<Isa> v = supported_isas();
    if (const char* env = std::getenv("EDGEOPT_INT8_ISA")) {
      for (Isa i : v)
        if (std::string(env) == isa_name(i)) return i;
    }
    return v.back();
  }();
  return isa;
}

void pack_lhs(const void* l, int64_t m, int64_t k, int64_t lda, uint8_t xor_mask, uint8_t* dst) {
  const auto* src = static_cast<const uint8_t*>(l);
  const int64_t kp = padded_k(k), kq = kp / 4, kfull = k / 4, mb = (m + kMr - 1) / kMr;
  const uint32_t mask4 = 0x01010101u * xor_mask;
  // Block b, quad q, row r, byte t at ((b * kp/4 + q) * kMr + r) * 4 + t: a quad moves as one word.
  for (int64_t b = 0; b < mb; ++b)
    for (int64_t r = 0; r < kMr; ++r) {
      uint8_t* base = dst + b * kMr * kp + r * 4;
      if (b * kMr + r >= m) {
        for (int64_t q = 0; q < kq; ++q) std::memset(base + q * kMr * 4, 0, 4);
        continue;
      }
      const uint8_t* row = src + (b * kMr + r) * lda;
      for (int64_t q = 0; q < kfull; ++q) {
        uint32_t v;
        std::memcpy(&v, row + 4 * q, 4);
        v ^= mask4;
        std::memcpy(base + q * kMr * 4, &v, 4);
      }
      if (k % 4) {
        uint8_t last[4] = {0, 0, 0, 0};
        for (int64_t t = 0; t < k % 4; ++t) last[t] = row[4 * kfull + t] ^ xor_mask;
        std::memcpy(base + kfull * kMr * 4, last, 4);
      }
    }
}

void pack_lhs_row(const void* l, int64_t k, uint8_t xor_mask, uint8_t* dst) {
  const auto* src = static_cast<const uint8_t*>(l);
  const int64_t kfull = k / 4 * 4;
  const uint32_t mask4 = 0x01010101u * xor_mask;
  int64_t i = 0;
  for (; i < kfull; i += 4) {
    uint32_t v;
    std::memcpy(&v, src + i, 4);
    v ^= mask4;
    std::memcpy(dst + i, &v, 4);
  }
  for (; i < k; ++i) dst[i] = src[i] ^ xor_mask;
  for (; i < padded_k(k); ++i) dst[i] = 0;
}

namespace {

#if defined(__x86_64__)
// pack_rhs_quads_full with AVX512-VBMI: rows 0|1 and 2|3 as two 64-byte vectors, then two vpermt2b
// pick the 128 interleaved bytes (12 instructions per quad instead of the SSE2 form's 40).
// Quad q of the panel reads rows base + (4q + t) * ldb and writes out + q * kNr * 4.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) void pack_rhs_quads_vbmi(const uint8_t* base,
                                                                                         int64_t ldb, int64_t quads,
                                                                                         uint8_t xor_mask,
                                                                                         uint8_t* out) {
  static_assert(kNr == 32, "two 64-byte vectors per quad");
  alignas(64) uint8_t idx[2][64];
  for (int h = 0; h < 2; ++h)
    for (int o = 0; o < 64; ++o) {  // output byte o of half h: column 16 h + o / 4, row t = o % 4
      const int c = 16 * h + o / 4, t = o % 4;
      idx[h][o] = static_cast<uint8_t>((t >= 2 ? 64 : 0) + (t % 2) * 32 + c);
    }
  const __m512i i0 = _mm512_load_si512(idx[0]), i1 = _mm512_load_si512(idx[1]);
  const __m512i m = _mm512_set1_epi8(static_cast<char>(xor_mask));
  auto row = [&](const uint8_t* p) __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  };
  for (int64_t q = 0; q < quads; ++q, base += 4 * ldb, out += kNr * 4) {
    const __m512i a = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(row(base)), row(base + ldb), 1), m);
    const __m512i b =
        _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(row(base + 2 * ldb)), row(base + 3 * ldb), 1), m);
    _mm512_storeu_si512(out, _mm512_permutex2var_epi8(a, i0, b));
    _mm512_storeu_si512(out + 64, _mm512_permutex2var_epi8(a, i1, b));
  }
}

#endif

// Quads [0, quads) of a full panel: quad q's rows base + (4q + t) * ldb (kNr bytes each)
// interleaved into 4-byte lanes at out + q * kNr * 4.
void pack_rhs_quads_full(const uint8_t* base, int64_t ldb, int64_t quads, uint8_t xor_mask, uint8_t* out) {
#if defined(__x86_64__)
  if (has_avx512_vbmi()) return pack_rhs_quads_vbmi(base, ldb, quads, xor_mask, out);
#endif
  for (int64_t q = 0; q < quads; ++q, base += 4 * ldb, out += kNr * 4)
    for (int64_t c = 0; c < kNr; c += 16)
      interleave4x16_xor_u8(base + c, base + ldb + c, base + 2 * ldb + c, base + 3 * ldb + c, xor_mask, out + c * 4);
}

}  // namespace

void pack_rhs_quad(const uint8_t* r, int64_t rows, int64_t n, int64_t ldb, int64_t q, int64_t kp, uint8_t* dst) {
  const int64_t np = (n + kNr - 1) / kNr;
  for (int64_t p = 0; p < np; ++p) {
    uint8_t* out = dst + p * kNr * kp + q * kNr * 4;
    const int64_t nc = std::min(kNr, n - p * kNr);
    if (rows == 4 && nc == kNr) {
      pack_rhs_quads_full(r + p * kNr, ldb, 1, 0, out);
      continue;
    }
    std::memset(out, 0, static_cast<size_t>(kNr * 4));
    for (int64_t t = 0; t < rows; ++t)
      for (int64_t c = 0; c < nc; ++c) out[c * 4 + t] = r[t * ldb + p * kNr + c];
  }
}

void pack_rhs(const void* r, int64_t k, int64_t n, int64_t ldb, bool trans, uint8_t xor_mask, uint8_t* dst) {
  const auto* src = static_cast<const uint8_t*>(r);
  const int64_t kp = padded_k(k), np = (n + kNr - 1) / kNr;
  // Panel p, quad q, column c, byte t at ((p * kp/4 + q) * kNr + c) * 4 + t.
  for (int64_t p = 0; p < np; ++p) {
    uint8_t* panel = dst + p * kNr * kp;
    const int64_t nc = std::min(kNr, n - p * kNr);
    if (!trans && nc == kNr) {  // the common case, vectorized; only a last partial quad is scalar
      pack_rhs_quads_full(src + p * kNr, ldb, k / 4, xor_mask, panel);
      if (k % 4) {
        uint8_t* out = panel + (k / 4) * kNr * 4;
        std::memset(out, 0, static_cast<size_t>(kNr * 4));
        for (int64_t kk = k / 4 * 4; kk < k; ++kk)
          for (int64_t c = 0; c < kNr; ++c) out[c * 4 + kk % 4] = src[kk * ldb + p * kNr + c] ^ xor_mask;
      }
      continue;
    }
    std::memset(panel, 0, static_cast<size_t>(kNr * kp));
    if (trans) {
      for (int64_t c = 0; c < nc; ++c) {
        const uint8_t* col = src + (p * kNr + c) * ldb;
        for (int64_t kk = 0; kk < k; ++kk) panel[((kk / 4) * kNr + c) * 4 + (kk % 4)] = col[kk] ^ xor_mask;
      }
    } else {
      for (int64_t kk = 0; kk < k; ++kk) {
        const uint8_t* row = src + kk * ldb + p * kNr;
        uint8_t* out = panel + (kk / 4) * kNr * 4 + (kk % 4);
        for (int64_t c = 0; c < nc; ++c) out[c * 4] = row[c] ^ xor_mask;
      }
    }
  }
}

namespace detail {

void ukernel_scalar(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned) {
  for (int64_t i = 0; i < kMr * kNr; ++i) tile[i] = 0;
  for (int64_t q = 0; q < kq; ++q, l += kMr * 4, r += kNr * 4)
    for (int64_t i = 0; i < kMr; ++i)
      for (int64_t j = 0; j < kNr; ++j) {
        int32_t s = 0;
        for (int t = 0; t < 4; ++t) {
          const int32_t a = lhs_unsigned ? int32_t{l[i * 4 + t]} : int32_t{static_cast<int8_t>(l[i * 4 + t])};
          const int32_t b = lhs_unsigned ? int32_t{static_cast<int8_t>(r[j * 4 + t])} : int32_t{r[j * 4 + t]};
          s += a * b;
        }
        // Unsigned add: a sum beyond int32 wraps (defined), as the SIMD kernels do.
        tile[i * kNr + j] = static_cast<int32_t>(static_cast<uint32_t>(tile[i * kNr + j]) + static_cast<uint32_t>(s));
      }
}

void epilogue_scalar(const int32_t* tile, int64_t i0, int64_t mr, int64_t j0, int64_t nr, const Epilogue& ep, void* c,
                     int64_t ldc) {
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) {
      const int64_t ch = ep.per_row ? i0 + i : j0 + j;
      int32_t acc = tile[i * kNr + j];
      if (ep.bias) acc = static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(ep.bias[ch]));
      const int64_t at = (i0 + i) * ldc + j0 + j;
      if (ep.out == OutType::kS32) {
        static_cast<int32_t*>(c)[at] = acc;
        continue;
      }
      const int32_t y = quant::requantize(acc, quant::QuantMultiplier{ep.multiplier[ch], ep.shift[ch]}, ep.zero_point,
                                          ep.qmin, ep.qmax);
      if (ep.out == OutType::kU8)
        static_cast<uint8_t*>(c)[at] = static_cast<uint8_t>(y);
      else
        static_cast<int8_t*>(c)[at] = static_cast<int8_t>(y);
    }
}

void epilogue_pool2x2_scalar(const int32_t* tile, int64_t i0, int64_t mr, const Epilogue& ep, void* y, int64_t plane,
                             int64_t at, int64_t n) {
  for (int64_t i = 0; i < mr; ++i) {
    const int64_t ch = i0 + i;
    const uint32_t bias = ep.bias ? static_cast<uint32_t>(ep.bias[ch]) : 0;
    const int32_t* row = tile + i * kNr;
    for (int64_t t = 0; t < n; ++t) {
      int32_t m = std::numeric_limits<int32_t>::min();
      for (int64_t j : {2 * t, 2 * t + 1, 16 + 2 * t, 17 + 2 * t})  // wrapping bias add, then the max
        m = std::max(m, static_cast<int32_t>(static_cast<uint32_t>(row[j]) + bias));
      const int32_t q = quant::requantize(m, quant::QuantMultiplier{ep.multiplier[ch], ep.shift[ch]}, ep.zero_point,
                                          ep.qmin, ep.qmax);
      if (ep.out == OutType::kU8)
        static_cast<uint8_t*>(y)[ch * plane + at + t] = static_cast<uint8_t>(q);
      else
        static_cast<int8_t*>(y)[ch * plane + at + t] = static_cast<int8_t>(q);
    }
  }
}

}  // namespace detail

namespace {

bool vector_epilogue_ok(Isa isa, const Epilogue& ep, int64_t channels) {
  // The vector epilogue covers right shifts 1..31 (real scales < 1/2); others take the scalar one.
  if (isa != Isa::kAvx512Vnni) return false;
  if (ep.out == OutType::kS32) return true;
  if (ep.row_table && ep.per_row) return true;  // made only when every shift is in range
  for (int64_t ch = 0; ch < channels; ++ch)
    if (!x86::requant_vec_ok(ep.shift[ch])) return false;
  return true;
}

// t[ch] = x86::requant_channel_scalars(multiplier[ch], shift[ch]) for every channel; false (t
// partly written) when a shift is outside the vector forms' range.
bool fill_row_requant_table(const int32_t* multiplier, const int32_t* shift, int64_t channels,
                            x86::RequantChannelScalars* t) {
  for (int64_t ch = 0; ch < channels; ++ch) {
    if (!x86::requant_vec_ok(shift[ch])) return false;
    t[ch] = x86::requant_channel_scalars(multiplier[ch], shift[ch]);
  }
  return true;
}

// The per-channel scalars of the fast per-row requantization (x86::requant_channel_scalars) for
// every channel (channels where a tie is possible marked `general`), or null when it does not apply
// (s32 out, per-column channels, a shift outside [-31, -1], not the vector epilogue): ep.row_table
// when a prepare made it, else built in per-thread storage, valid until the next call.
const x86::RequantChannelScalars* row_requant_table(const Epilogue& ep, int64_t m, bool vec) {
  if (!vec || ep.out == OutType::kS32 || !ep.per_row) return nullptr;
  if (ep.row_table) return ep.row_table;
  thread_local std::vector<x86::RequantChannelScalars> table;
  table.resize(static_cast<size_t>(m));
  return fill_row_requant_table(ep.multiplier, ep.shift, m, table.data()) ? table.data() : nullptr;
}

void epilogue(const int32_t* tile, int64_t i0, int64_t mr, int64_t j0, int64_t nr, const Epilogue& ep, void* c,
              int64_t ldc, [[maybe_unused]] bool vec, [[maybe_unused]] const x86::RequantChannelScalars* rows = nullptr) {
#if defined(__x86_64__)
  if (vec) return detail::epilogue_avx512(tile, i0, mr, j0, nr, ep, c, ldc, rows);
#endif
  detail::epilogue_scalar(tile, i0, mr, j0, nr, ep, c, ldc);
}

// Whether L block mb runs the 8-row AVX-512 kernels, the ones that read an indirect R in place.
bool reads_indirect_r(const Operands& op, Isa isa, int64_t mb) {
  return isa == Isa::kAvx512Vnni && !op.lhs_row && op.m - mb * kMr >= kMr;
}

// R panel p for one L block: a packed panel (null offsets) as given; an indirect R as its base and
// offsets where the block's kernel reads it in place, else gathered into a per-thread packed panel
// (`gathered` remembers which panel the buffer holds: consecutive blocks share it).
struct PanelR {
  const uint8_t* r;
  const int64_t* roff;
};
PanelR panel_r(const Operands& op, Isa isa, int64_t kq, int64_t p, int64_t mb, int64_t* gathered) {
  if (!op.rhs_quad_offsets) return {op.rhs + p * kNr * kq * 4, nullptr};
  const uint8_t* base = op.rhs + p * kNr * 4;
  if (reads_indirect_r(op, isa, mb)) return {base, op.rhs_quad_offsets};
  thread_local std::vector<uint8_t> panel;
  if (*gathered != p || panel.size() < static_cast<size_t>(kq * kNr * 4)) {
    panel.resize(static_cast<size_t>(kq * kNr * 4));
    for (int64_t q = 0; q < kq; ++q) std::memcpy(panel.data() + q * kNr * 4, base + op.rhs_quad_offsets[q], kNr * 4);
    *gathered = p;
  }
  return {panel.data(), nullptr};
}

// The s32 tile of L block mb times one R panel, on the microkernel that fits the block's real rows
// (roff: an indirect R read in place, only where reads_indirect_r).
void run_ukernel(const Operands& op, Isa isa, int64_t kq, int64_t mb, const uint8_t* l, const uint8_t* r,
                 int32_t* tile, [[maybe_unused]] const int64_t* roff = nullptr) {
  switch (isa) {
#if defined(__x86_64__)
    case Isa::kAvx512Vnni:
      if (op.lhs_row)
        detail::ukernel_avx512vnni_1row(kq, l, r, tile, op.lhs_unsigned, 4);
      else if (op.m - mb * kMr == 1)
        detail::ukernel_avx512vnni_1row(kq, l, r, tile, op.lhs_unsigned, kMr * 4);
      else if (op.m - mb * kMr <= 4)
        detail::ukernel_avx512vnni_4row(kq, l, r, tile, op.lhs_unsigned);
      else
        detail::ukernel_avx512vnni(kq, l, r, tile, op.lhs_unsigned, roff);
      return;
    case Isa::kAvx2:
      detail::ukernel_avx2(kq, l, r, tile, op.lhs_unsigned);
      return;
#endif
#if defined(__aarch64__)
    case Isa::kNeonDot:
      detail::ukernel_neondot(kq, l, r, tile, op.lhs_unsigned);
      return;
#endif
    default:
      detail::ukernel_scalar(kq, l, r, tile, op.lhs_unsigned);
      return;
  }
}

}  // namespace

std::vector<x86::RequantChannelScalars> make_row_requant_table(const int32_t* multiplier, const int32_t* shift,
                                                               int64_t channels) {
  std::vector<x86::RequantChannelScalars> t(static_cast<size_t>(channels));
  if (!fill_row_requant_table(multiplier, shift, channels, t.data())) return {};
  return t;
}

void requantize_s32(const int32_t* acc, int64_t m, int64_t n, int64_t lda, const Epilogue& ep, void* c, int64_t ldc,
                    Isa isa) {
  const bool vec = vector_epilogue_ok(isa, ep, ep.per_row ? m : n);
  alignas(64) int32_t tile[kMr * kNr];
  for (int64_t i0 = 0; i0 < m; i0 += kMr)
    for (int64_t j0 = 0; j0 < n; j0 += kNr) {
      const int64_t mr = std::min(kMr, m - i0), nr = std::min(kNr, n - j0);
      // A library memcpy (wide stores): an inlined fixed-size copy here is 16-byte SSE stores, which
      // the epilogue's 64-byte loads cannot forward from (measured: MobileNetV2 int8 3% slower).
      for (int64_t i = 0; i < mr; ++i) std::memcpy(tile + i * kNr, acc + (i0 + i) * lda + j0, nr * sizeof(int32_t));
      epilogue(tile, i0, mr, j0, nr, ep, c, ldc, vec);
    }
}

void gemm_int8(const Operands& op, const Epilogue& ep, void* c, int64_t ldc, ThreadPool* pool, Isa isa) {
  if (op.m <= 0 || op.n <= 0) return;
  if (op.lhs_row && (op.m != 1 || isa != Isa::kAvx512Vnni)) {  // a contract violation, not a user error
    std::fprintf(stderr, "gemm_int8: lhs_row needs m == 1 and avx512vnni\n");
    std::abort();
  }
  const int64_t kp = padded_k(op.k), kq = kp / 4;
  const int64_t mblocks = (op.m + kMr - 1) / kMr, panels = (op.n + kNr - 1) / kNr;
  const bool vec_epilogue = vector_epilogue_ok(isa, ep, ep.per_row ? op.m : op.n);
  const x86::RequantChannelScalars* rows = row_requant_table(ep, op.m, vec_epilogue);
  // Full 8-row blocks whose channels all take the channel form run the fused kernel (no s32 tile).
  [[maybe_unused]] const bool fusable = rows && isa == Isa::kAvx512Vnni && !op.lhs_row;
  [[maybe_unused]] auto fused_rows = [&](int64_t i0) {
    for (int64_t i = i0; i < i0 + kMr; ++i)
      if (rows[i].general) return false;
    return true;
  };
  auto run = [&](int64_t b, int64_t e) {
    alignas(64) int32_t tile[kMr * kNr];
    int64_t gathered = -1;
    for (int64_t item = b; item < e; ++item) {
      const int64_t p = item / mblocks, mb = item % mblocks;
      const uint8_t* l = op.lhs + mb * kMr * kp;
      const auto [r, roff] = panel_r(op, isa, kq, p, mb, &gathered);
      const int64_t i0 = mb * kMr, j0 = p * kNr;
      const int64_t mr = std::min(kMr, op.m - i0), nr = std::min(kNr, op.n - j0);
#if defined(__x86_64__)
      if (fusable && mr == kMr && nr == kNr && fused_rows(i0)) {
        detail::ukernel_avx512vnni_q8rows(kq, l, r, roff, op.lhs_unsigned, rows + i0, ep.bias ? ep.bias + i0 : nullptr,
                                          ep, static_cast<uint8_t*>(c) + i0 * ldc + j0, ldc);
        continue;
      }
#endif
      run_ukernel(op, isa, kq, mb, l, r, tile, roff);
      epilogue(tile, i0, mr, j0, nr, ep, c, ldc, vec_epilogue, rows);
    }
  };
  const int64_t items = mblocks * panels;
  if (pool && pool->num_threads() > 1 && items > 1)
    pool->parallel_for(items, run);
  else
    run(0, items);
}

void gemm_int8_pixel_rows(const Operands& op, const int64_t* pixel_offsets, int64_t npx, const Epilogue& ep,
                          uint8_t* y, int64_t ldy, ThreadPool* pool, Isa isa) {
  if (op.m <= 0 || npx <= 0) return;
  if (!pixel_rows_ok(op.m, isa) || op.lhs_unsigned || op.lhs_row || !op.rhs_quad_offsets || ep.per_row ||
      ep.out == OutType::kS32) {  // a contract violation, not a user error
    std::fprintf(stderr, "gemm_int8_pixel_rows: needs avx512vnni, m %% 32 == 0, s8 packed L, offsets, per-column q8\n");
    std::abort();
  }
#if defined(__x86_64__)
  const int64_t kq = padded_k(op.k) / 4, wblock = kq * kMr * 4;
  const int64_t rb = pixel_rows_block(npx), pblocks = (npx + rb - 1) / rb, cpanels = op.m / kNr;
  const bool vec = vector_epilogue_ok(isa, ep, op.m);
  auto run = [&](int64_t b, int64_t e) {
    alignas(64) int32_t tile[kMr * kNr];
    for (int64_t item = b; item < e; ++item) {
      // Channel panels outer: a thread's consecutive items share the panel's weights.
      const int64_t cp = item / pblocks, pb = item % pblocks, n0 = pb * rb, mr = std::min(rb, npx - n0);
      const uint8_t* px[kMr];
      for (int64_t i = 0; i < kMr; ++i) px[i] = op.rhs + pixel_offsets[n0 + (i < mr ? i : 0)];
      detail::ukernel_avx512vnni_pixel_rows(mr, kq, px, op.rhs_quad_offsets, op.lhs + cp * 4 * wblock, wblock, tile);
      const int64_t j0 = cp * kNr;
      if (vec) {
        detail::epilogue_pixel_rows_avx512(tile, mr, j0, ep, y, ldy, n0);
        continue;
      }
      for (int64_t j = 0; j < kNr; ++j) {  // shifts outside the vector form's range
        const int64_t ch = j0 + j;
        for (int64_t i = 0; i < mr; ++i) {
          int32_t acc = tile[i * kNr + j];
          if (ep.bias) acc = static_cast<int32_t>(static_cast<uint32_t>(acc) + static_cast<uint32_t>(ep.bias[ch]));
          const int32_t q = quant::requantize(acc, quant::QuantMultiplier{ep.multiplier[ch], ep.shift[ch]},
                                              ep.zero_point, ep.qmin, ep.qmax);
          y[ch * ldy + n0 + i] = static_cast<uint8_t>(q);  // the low byte: u8, or s8's two's complement
        }
      }
    }
  };
  const int64_t items = pblocks * cpanels;
  if (pool && pool->num_threads() > 1 && items > 1)
    pool->parallel_for(items, run);
  else
    run(0, items);
#else
  (void)pixel_offsets, (void)ep, (void)y, (void)ldy, (void)pool;
#endif
}

void gemm_int8_pool2x2_rowpairs(const Operands& op, const Epilogue& ep, int64_t ph, int64_t pw, void* y,
                                ThreadPool* pool, Isa isa) {
  if (op.m <= 0 || ph <= 0 || pw <= 0) return;
  if (op.lhs_row || ep.out == OutType::kS32 || !ep.per_row) {  // a contract violation, not a user error
    std::fprintf(stderr, "gemm_int8_pool2x2_rowpairs: needs packed L, u8/s8 out, per-row channels\n");
    std::abort();
  }
  const int64_t kp = padded_k(op.k), kq = kp / 4, col_blocks = (pw + 7) / 8;
  const int64_t mblocks = (op.m + kMr - 1) / kMr, panels = ph * col_blocks;
  const bool vec_epilogue = vector_epilogue_ok(isa, ep, op.m);
  auto run = [&](int64_t b, int64_t e) {
    alignas(64) int32_t tile[kMr * kNr];
    int64_t gathered = -1;
    for (int64_t item = b; item < e; ++item) {
      const int64_t p = item / mblocks, mb = item % mblocks;
      const auto [r, roff] = panel_r(op, isa, kq, p, mb, &gathered);
      run_ukernel(op, isa, kq, mb, op.lhs + mb * kMr * kp, r, tile, roff);
      const int64_t i0 = mb * kMr, mr = std::min(kMr, op.m - i0);
      const int64_t pr = p / col_blocks, c0 = p % col_blocks * 8, n = std::min<int64_t>(8, pw - c0);
#if defined(__x86_64__)
      if (vec_epilogue) {
        detail::epilogue_pool2x2_avx512(tile, i0, mr, ep, y, ph * pw, pr * pw + c0, n);
        continue;
      }
#endif
      detail::epilogue_pool2x2_scalar(tile, i0, mr, ep, y, ph * pw, pr * pw + c0, n);
    }
  };
  const int64_t items = mblocks * panels;
  if (pool && pool->num_threads() > 1 && items > 1)
    pool->parallel_for(items, run);
  else
    run(0, items);
}

}  // namespace edgeopt::kernels::gemm_int8

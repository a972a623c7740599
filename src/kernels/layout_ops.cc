#include "hilsim/kernels/layout_ops.h"

#include <algorithm>
#include <cstring>

#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

// Floats per work item: enough to amortise the hand-out, small enough to balance two cores.
constexpr int64_t kGrain = 16384;
// Tile of the blocked transpose: kTileL rows of the input's unit-stride dim, kTileQ values long; two
// 32x32 fp32 tiles (8 KiB) stay in L1. (Longer or taller tiles measured no better, within the noise
// of a shared machine.)
constexpr int64_t kTileL = 32, kTileQ = 32;
constexpr size_t kMaxRank = 8;

std::string dims_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// Row-major index over `shape` that steps one position at a time and tracks a strided offset.
struct Odometer {
  int64_t idx[kMaxRank] = {};
  int64_t off = 0;
  void seek(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, size_t rank, int64_t flat,
            int64_t base) {
    off = base;
    for (size_t d = rank; d-- > 0;) {
      idx[d] = flat % shape[d];
      flat /= shape[d];
      off += idx[d] * strides[d];
    }
  }
  void next(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides, size_t rank) {
    for (size_t d = rank; d-- > 0;) {
      off += strides[d];
      if (++idx[d] < shape[d]) return;
      off -= idx[d] * strides[d];
      idx[d] = 0;
    }
  }
};

// Transposes an nl x nq tile: src row l (stride src_stride) holds nq contiguous values, dst row q
// (stride dst_stride) receives nl contiguous values. Full 8x8 blocks go through registers (three
// rounds of shuffles), so both sides move whole vectors; reading down the source directly is a
// scalar gather whose rows, a multiple of 4 KiB apart for an H*W plane, share one L1 set.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
void transpose_tile(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t nl, int64_t nq) {
  typedef float v8 __attribute__((vector_size(32)));
  typedef int v8i __attribute__((vector_size(32)));
  int64_t l = 0;
  for (; l + 8 <= nl; l += 8) {
    int64_t q = 0;
    for (; q + 8 <= nq; q += 8) {
      v8 r[8];
      for (int k = 0; k < 8; ++k) std::memcpy(&r[k], src + (l + k) * src_stride + q, sizeof(v8));
      v8 t[8], u[8];
      for (int k = 0; k < 8; k += 2) {
        t[k] = __builtin_shuffle(r[k], r[k + 1], v8i{0, 8, 1, 9, 4, 12, 5, 13});
        t[k + 1] = __builtin_shuffle(r[k], r[k + 1], v8i{2, 10, 3, 11, 6, 14, 7, 15});
      }
      for (int k = 0; k < 8; k += 4) {
        u[k] = __builtin_shuffle(t[k], t[k + 2], v8i{0, 1, 8, 9, 4, 5, 12, 13});
        u[k + 1] = __builtin_shuffle(t[k], t[k + 2], v8i{2, 3, 10, 11, 6, 7, 14, 15});
        u[k + 2] = __builtin_shuffle(t[k + 1], t[k + 3], v8i{0, 1, 8, 9, 4, 5, 12, 13});
        u[k + 3] = __builtin_shuffle(t[k + 1], t[k + 3], v8i{2, 3, 10, 11, 6, 7, 14, 15});
      }
      for (int k = 0; k < 4; ++k) {
        const v8 lo = __builtin_shuffle(u[k], u[k + 4], v8i{0, 1, 2, 3, 8, 9, 10, 11});
        const v8 hi = __builtin_shuffle(u[k], u[k + 4], v8i{4, 5, 6, 7, 12, 13, 14, 15});
        std::memcpy(dst + (q + k) * dst_stride + l, &lo, sizeof(v8));
        std::memcpy(dst + (q + k + 4) * dst_stride + l, &hi, sizeof(v8));
      }
    }
    for (; q < nq; ++q)
      for (int k = 0; k < 8; ++k) dst[q * dst_stride + l + k] = src[(l + k) * src_stride + q];
  }
  for (; l < nl; ++l)
    for (int64_t q = 0; q < nq; ++q) dst[q * dst_stride + l] = src[l * src_stride + q];
}

}  // namespace

int64_t StridedCopy::out_numel() const {
  int64_t n = 1;
  for (int64_t v : out_shape) n *= v;
  return n;
}

StridedCopy make_strided_copy(const std::vector<int64_t>& out_shape, const std::vector<int64_t>& in_strides,
                              int64_t base) {
  if (out_shape.size() != in_strides.size()) throw Error("strided_copy: field 'in_strides'", "one per output dim");
  if (out_shape.size() > kMaxRank) throw Error("strided_copy: field 'out_shape'", "rank above 8");
  StridedCopy c;
  c.base = base;
  for (size_t d = 0; d < out_shape.size(); ++d) {
    if (out_shape[d] < 0) throw Error("strided_copy: field 'out_shape'", "negative dim in " + dims_str(out_shape));
    if (out_shape[d] == 1) continue;
    // Merge into the previous dim when stepping it once equals running through this one.
    if (!c.out_shape.empty() && c.in_strides.back() == in_strides[d] * out_shape[d]) {
      c.out_shape.back() *= out_shape[d];
      c.in_strides.back() = in_strides[d];
    } else {
      c.out_shape.push_back(out_shape[d]);
      c.in_strides.push_back(in_strides[d]);
    }
  }
  if (c.out_shape.empty()) c.out_shape = {1}, c.in_strides = {1};
  for (int64_t v : out_shape)
    if (v == 0) c.out_shape = {0}, c.in_strides = {1};
  return c;
}

StridedCopy make_transpose(const std::vector<int64_t>& in_shape, std::vector<int64_t> perm) {
  const size_t r = in_shape.size();
  if (perm.empty())
    for (size_t i = r; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted.size() != r || sorted[i] != static_cast<int64_t>(i))
      throw Error("transpose: field 'perm'", "not a permutation of the " + std::to_string(r) + " input dims");
  std::vector<int64_t> st(r, 1);
  for (size_t d = r; d-- > 1;) st[d - 1] = st[d] * in_shape[d];
  std::vector<int64_t> os(r), ist(r);
  for (size_t d = 0; d < r; ++d) os[d] = in_shape[perm[d]], ist[d] = st[perm[d]];
  return make_strided_copy(os, ist, 0);
}

StridedCopy make_slice(const std::vector<int64_t>& in_shape, const std::vector<int64_t>& starts,
                       const std::vector<int64_t>& steps, const std::vector<int64_t>& out_shape) {
  const size_t r = in_shape.size();
  if (starts.size() != r || steps.size() != r || out_shape.size() != r)
    throw Error("slice: field 'starts/steps'", "one per input dim");
  std::vector<int64_t> st(r, 1);
  for (size_t d = r; d-- > 1;) st[d - 1] = st[d] * in_shape[d];
  int64_t base = 0;
  std::vector<int64_t> ist(r);
  for (size_t d = 0; d < r; ++d) {
    if (out_shape[d] > 0) {
      const int64_t last = starts[d] + (out_shape[d] - 1) * steps[d];
      if (starts[d] < 0 || starts[d] >= in_shape[d] || last < 0 || last >= in_shape[d])
        throw Error("slice: dim " + std::to_string(d), "reads outside the input " + dims_str(in_shape));
    }
    base += starts[d] * st[d];
    ist[d] = steps[d] * st[d];
  }
  return make_strided_copy(out_shape, ist, base);
}

namespace {

// strided_copy's two paths, one rule for the kernel and strided_copy_loops.
struct CopyPlan {
  size_t q = 0;          // the input's unit-stride out dim, when tiled
  bool tiled = false;    // a transpose moving that dim away from the end: cache-sized tiles
  int64_t inner = 1, rows = 0, per_row = 1;  // row path: rows of `inner`, each in per_row pieces
};

CopyPlan copy_plan(const StridedCopy& c) {
  CopyPlan p;
  const size_t r = c.out_shape.size();
  p.inner = c.out_shape[r - 1];
  const int64_t s_inner = c.in_strides[r - 1];
  p.q = r;
  for (size_t d = 0; d + 1 < r; ++d)
    if (c.in_strides[d] == 1) p.q = d;
  p.tiled = s_inner != 1 && p.q < r && p.inner > 1;
  p.rows = p.inner > 0 ? c.out_numel() / p.inner : 0;
  p.per_row = std::max<int64_t>(1, p.inner / kGrain);
  return p;
}

}  // namespace

int64_t strided_copy_loops(const StridedCopy& c) {
  if (c.out_numel() == 0) return 0;
  const CopyPlan p = copy_plan(c);
  if (!p.tiled) return p.rows * p.per_row;
  const int64_t nq = c.out_shape[p.q];
  return c.out_numel() / (nq * p.inner) * ((nq + kTileQ - 1) / kTileQ) * ((p.inner + kTileL - 1) / kTileL);
}

void strided_copy(const StridedCopy& c, const float* in, float* out, ThreadPool& pool) {
  const int64_t total = c.out_numel();
  if (total == 0) return;
  const size_t r = c.out_shape.size();
  const CopyPlan plan = copy_plan(c);
  const int64_t inner = plan.inner, s_inner = c.in_strides[r - 1];
  const int64_t rows = plan.rows;

  // The input's unit-stride dim, if the output moved it away from the end: tile that pair.
  const size_t q = plan.q;
  if (plan.tiled) {
    // Out dims other than q and the last form the outer loop; each outer index is an nq x inner
    // transpose read down q (unit stride) and written along the last dim (unit stride).
    std::vector<int64_t> oshape, istr, ostr;
    std::vector<int64_t> out_st(r, 1);
    for (size_t d = r; d-- > 1;) out_st[d - 1] = out_st[d] * c.out_shape[d];
    for (size_t d = 0; d + 1 < r; ++d)
      if (d != q) oshape.push_back(c.out_shape[d]), istr.push_back(c.in_strides[d]), ostr.push_back(out_st[d]);
    if (oshape.empty()) oshape = {1}, istr = {0}, ostr = {0};
    int64_t outer = 1;
    for (int64_t v : oshape) outer *= v;
    const int64_t nq = c.out_shape[q], oq = out_st[q];
    const int64_t tq = (nq + kTileQ - 1) / kTileQ, tl = (inner + kTileL - 1) / kTileL;
    const size_t items = static_cast<size_t>(outer * tq);
    pool.parallel_for(items, [&](size_t b0, size_t b1) {
      for (size_t it = b0; it < b1; ++it) {
        const int64_t o = static_cast<int64_t>(it) / tq, bq = static_cast<int64_t>(it) % tq;
        int64_t ioff = c.base, ooff = 0, rem = o;
        for (size_t d = oshape.size(); d-- > 0;) {
          const int64_t i = rem % oshape[d];
          rem /= oshape[d];
          ioff += i * istr[d];
          ooff += i * ostr[d];
        }
        const int64_t q0 = bq * kTileQ, q1 = std::min(nq, q0 + kTileQ);
        for (int64_t bl = 0; bl < tl; ++bl) {
          const int64_t l0 = bl * kTileL, l1 = std::min(inner, l0 + kTileL);
          transpose_tile(in + ioff + l0 * s_inner + q0, s_inner, out + ooff + q0 * oq + l0, oq, l1 - l0, q1 - q0);
        }
      }
    }, static_cast<size_t>(std::max<int64_t>(1, kGrain / (kTileQ * std::max<int64_t>(inner, 1)))));
    return;
  }

  // Rows of `inner` outputs; a long row is split so one big run still feeds every thread.
  const int64_t per_row = plan.per_row;
  const int64_t piece = (inner + per_row - 1) / per_row;
  const size_t items = static_cast<size_t>(rows * per_row);
  const size_t grain = static_cast<size_t>(std::max<int64_t>(1, kGrain / inner));
  const size_t outer_rank = r - 1;
  pool.parallel_for(items, [&](size_t b0, size_t b1) {
    Odometer od;
    int64_t row = static_cast<int64_t>(b0) / per_row;
    od.seek(c.out_shape, c.in_strides, outer_rank, row, c.base);
    for (size_t it = b0; it < b1; ++it) {
      const int64_t cur = static_cast<int64_t>(it) / per_row, part = static_cast<int64_t>(it) % per_row;
      if (cur != row) {
        od.next(c.out_shape, c.in_strides, outer_rank);
        row = cur;
      }
      const int64_t l0 = part * piece, l1 = std::min(inner, l0 + piece);
      const float* src = in + od.off + l0 * s_inner;
      float* dst = out + row * inner + l0;
      if (s_inner == 1) {
        std::memcpy(dst, src, static_cast<size_t>(l1 - l0) * sizeof(float));
      } else {
        for (int64_t l = 0; l < l1 - l0; ++l) dst[l] = src[l * s_inner];
      }
    }
  }, grain);
}

PadMode pad_mode_of(const std::string& m) {
  if (m == "constant") return PadMode::kConstant;
  if (m == "reflect") return PadMode::kReflect;
  if (m == "edge") return PadMode::kEdge;
  throw Error("pad: field 'mode'", "'" + m + "' is not one of constant, reflect, edge");
}

std::vector<int64_t> PadShape::out_shape() const {
  const size_t r = in_shape.size();
  std::vector<int64_t> o(r);
  for (size_t d = 0; d < r; ++d) o[d] = in_shape[d] + pads[d] + pads[d + r];
  return o;
}

void PadShape::validate() const {
  const size_t r = in_shape.size();
  if (r == 0 || r > kMaxRank) throw Error("pad: field 'in_shape'", "rank must be 1..8");
  if (pads.size() != 2 * r) throw Error("pad: field 'pads'", "needs " + std::to_string(2 * r) + " values");
  for (size_t d = 0; d < r; ++d) {
    const int64_t n = in_shape[d], lo = pads[d], hi = pads[d + r];
    if (n < 1) throw Error("pad: field 'in_shape'", "empty dim in " + dims_str(in_shape));
    if (n + lo + hi < 0) throw Error("pad: field 'pads'", "removes more than dim " + std::to_string(d) + " holds");
    if (mode == PadMode::kReflect && n > 1 && (lo >= n || hi >= n))
      throw Error("pad: field 'pads'", "reflect pads must be smaller than dim " + std::to_string(d));
  }
}

namespace {
// Source index of padded position v (already shifted by -lo) in a dim of n; -1 = the constant.
inline int64_t pad_source(int64_t v, int64_t n, PadMode mode) {
  if (v >= 0 && v < n) return v;
  if (mode == PadMode::kConstant) return -1;
  if (mode == PadMode::kEdge || n == 1) return std::clamp<int64_t>(v, 0, n - 1);
  return v < 0 ? -v : 2 * (n - 1) - v;
}
}  // namespace

void pad(const PadShape& s, const float* in, float* out, ThreadPool& pool) {
  s.validate();
  const size_t r = s.in_shape.size();
  const std::vector<int64_t> os = s.out_shape();
  int64_t total = 1;
  for (int64_t v : os) total *= v;
  if (total == 0) return;
  std::vector<int64_t> ist(r, 1);
  for (size_t d = r; d-- > 1;) ist[d - 1] = ist[d] * s.in_shape[d];
  const int64_t n = s.in_shape[r - 1], m = os[r - 1], lo = s.pads[r - 1];
  const int64_t rows = total / m;
  // Output positions [mid0, mid1) of a row read the input row in order.
  const int64_t mid0 = std::clamp<int64_t>(lo, 0, m), mid1 = std::clamp<int64_t>(lo + n, mid0, m);
  const PadMode mode = s.mode;
  const float value = s.value;
  pool.parallel_for(static_cast<size_t>(rows), [&](size_t b0, size_t b1) {
    int64_t idx[kMaxRank] = {};
    int64_t rem = static_cast<int64_t>(b0);
    for (size_t d = r - 1; d-- > 0;) idx[d] = rem % os[d], rem /= os[d];
    for (size_t row = b0; row < b1; ++row) {
      float* dst = out + static_cast<int64_t>(row) * m;
      int64_t src_off = 0;
      bool outside = false;
      for (size_t d = 0; d + 1 < r; ++d) {
        const int64_t v = pad_source(idx[d] - s.pads[d], s.in_shape[d], mode);
        if (v < 0) { outside = true; break; }
        src_off += v * ist[d];
      }
      if (outside) {
        std::fill(dst, dst + m, value);
      } else {
        const float* src = in + src_off;
        for (int64_t o = 0; o < mid0; ++o) {
          const int64_t v = pad_source(o - lo, n, mode);
          dst[o] = v < 0 ? value : src[v];
        }
        if (mid1 > mid0) std::memcpy(dst + mid0, src + (mid0 - lo), static_cast<size_t>(mid1 - mid0) * sizeof(float));
        for (int64_t o = mid1; o < m; ++o) {
          const int64_t v = pad_source(o - lo, n, mode);
          dst[o] = v < 0 ? value : src[v];
        }
      }
      for (size_t d = r - 1; d-- > 0;) {
        if (++idx[d] < os[d]) break;
        idx[d] = 0;
      }
    }
  }, static_cast<size_t>(std::max<int64_t>(1, kGrain / m)));
}

}  // namespace hilsim::kernels

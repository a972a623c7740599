#include "hilsim/kernels/sparse_conv.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>

#include "hilsim/kernels/gemm.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

bool row_height_supported(int fb) { return fb == 1 || fb == 2 || fb == 4 || fb == 8 || fb == 16; }


int64_t SparseRows::kept_weights() const {
  int64_t n = 0;
  for (int64_t r = 0; r < rows(); ++r)
    n += static_cast<int64_t>(row_begin[r + 1] - row_begin[r]) * std::min<int64_t>(fb, f - r * fb);
  return n;
}

void SparseRows::validate(const ConvShape& s, const std::string& where) const {
  if (s.groups != 1) throw Error(where, "sparse formats need groups = 1");
  if (!row_height_supported(fb))
    throw Error(where, "row height fb " + std::to_string(fb) + " is not 1, 2, 4, 8 or 16");
  if (f != s.f || c != s.c || kh != s.kh || kw != s.kw)
    throw Error(where, "packed rows are for f" + std::to_string(f) + " c" + std::to_string(c) + " k" +
                           std::to_string(kh) + "x" + std::to_string(kw) + ", the conv is " + s.str());
  const int64_t nrows = (s.f + fb - 1) / fb, K = s.c * s.kh * s.kw;
  if (rows() != nrows) throw Error(where, "row_begin has " + std::to_string(row_begin.size()) + " offsets, expected " +
                                              std::to_string(nrows + 1));
  if (row_begin.front() != 0 || row_begin.back() != static_cast<int64_t>(cols.size()))
    throw Error(where, "row_begin does not span cols");
  if (values.size() != cols.size() * static_cast<size_t>(fb))
    throw Error(where, "values has " + std::to_string(values.size()) + " entries, expected fb x cols = " +
                           std::to_string(cols.size() * static_cast<size_t>(fb)));
  for (int64_t r = 0; r < nrows; ++r) {
    if (row_begin[r + 1] < row_begin[r]) throw Error(where, "row_begin decreases at row " + std::to_string(r));
    for (int64_t j = row_begin[r]; j < row_begin[r + 1]; ++j) {
      if (cols[j] < 0 || cols[j] >= K) throw Error(where, "cols: index " + std::to_string(cols[j]) + " out of range");
      if (j > row_begin[r] && cols[j] <= cols[j - 1]) throw Error(where, "cols: not increasing within row " + std::to_string(r));
    }
  }
  if (order.size() != static_cast<size_t>(nrows)) throw Error(where, "order has the wrong length");
  std::vector<char> seen(static_cast<size_t>(nrows), 0);
  for (int32_t r : order) {
    if (r < 0 || r >= nrows || seen[static_cast<size_t>(r)]) throw Error(where, "order is not a permutation of the rows");
    seen[static_cast<size_t>(r)] = 1;
  }
}

namespace {
// The packing rule: row `row` stores column k when any of its filters keeps it.
bool row_keeps(const std::vector<uint8_t>& keep, int64_t K, int64_t f0, int64_t fr, int64_t k) {
  for (int64_t f = 0; f < fr; ++f)
    if (keep[static_cast<size_t>((f0 + f) * K + k)]) return true;
  return false;
}
}  // namespace

int64_t stored_columns(const ConvShape& s, const std::vector<uint8_t>& keep, int fb) {
  const int64_t K = s.c / s.groups * s.kh * s.kw;
  if (fb < 1 || static_cast<int64_t>(keep.size()) != s.f * K)
    throw Error("sparse conv " + s.str(), "mask has " + std::to_string(keep.size()) + " entries for " +
                                             std::to_string(s.f * K) + " weights");
  int64_t n = 0;
  for (int64_t f0 = 0; f0 < s.f; f0 += fb)
    for (int64_t k = 0; k < K; ++k) n += row_keeps(keep, K, f0, std::min<int64_t>(fb, s.f - f0), k);
  return n;
}

SparseRows pack_sparse_rows(const ConvShape& s, const float* w, const std::vector<uint8_t>& keep, int fb) {
  const std::string where = "sparse conv " + s.str();
  if (s.groups != 1) throw Error(where, "sparse formats need groups = 1");
  if (!row_height_supported(fb))
    throw Error(where, "row height fb " + std::to_string(fb) + " is not 1, 2, 4, 8 or 16");
  const int64_t K = s.c * s.kh * s.kw;
  if (static_cast<int64_t>(keep.size()) != s.f * K)
    throw Error(where, "mask has " + std::to_string(keep.size()) + " entries for " + std::to_string(s.f * K) +
                           " weights");
  if (!w) throw Error(where, "null weights");
  SparseRows r;
  r.fb = fb;
  r.f = s.f, r.c = s.c, r.kh = s.kh, r.kw = s.kw;
  const int64_t nrows = (s.f + fb - 1) / fb;
  r.row_begin.push_back(0);
  for (int64_t row = 0; row < nrows; ++row) {
    const int64_t f0 = row * fb, fr = std::min<int64_t>(fb, s.f - f0);
    for (int64_t k = 0; k < K; ++k) {
      if (!row_keeps(keep, K, f0, fr, k)) continue;
      r.cols.push_back(static_cast<int32_t>(k));
      for (int64_t f = 0; f < fb; ++f) {
        const bool kept = f < fr && keep[static_cast<size_t>((f0 + f) * K + k)];
        r.values.push_back(kept ? w[(f0 + f) * K + k] : 0.0f);
      }
    }
    // Offsets are int32 in the stored format, like the column indices: refuse rather than wrap.
    if (r.cols.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
      throw Error(where, "more than 2^31 kept columns");
    r.row_begin.push_back(static_cast<int32_t>(r.cols.size()));
  }
  // Longest rows first (YOLObile's block reordering): a dynamically handed-out tail of short rows
  // balances the threads. Stable, so equal rows keep filter order.
  r.order.resize(static_cast<size_t>(nrows));
  std::iota(r.order.begin(), r.order.end(), 0);
  std::stable_sort(r.order.begin(), r.order.end(), [&](int32_t a, int32_t b) {
    return r.row_begin[a + 1] - r.row_begin[a] > r.row_begin[b + 1] - r.row_begin[b];
  });
  return r;
}

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Filters per work item when chunked.
constexpr int64_t kGroupFilters = 32;

ColTileFn tile_for(int fb, int width, Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512 && isa_supported(Isa::kAvx512)) return col_tile_avx512(fb, width);
  if (isa == Isa::kAvx2 && isa_supported(Isa::kAvx2)) return col_tile_avx2(fb, width);
#endif
  (void)isa;
  return col_tile_generic(fb, width);
}

}  // namespace

bool col_tile_writes_output(Isa isa) {
#if defined(__x86_64__)
  return (isa == Isa::kAvx512 && isa_supported(Isa::kAvx512)) || (isa == Isa::kAvx2 && isa_supported(Isa::kAvx2));
#else
  (void)isa;
  return false;
#endif
}

namespace {

const char* tile_isa_name(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512 && isa_supported(Isa::kAvx512)) return "avx512";
  if (isa == Isa::kAvx2 && isa_supported(Isa::kAvx2)) return "avx2";
#endif
  (void)isa;
  return "generic";
}

}  // namespace


namespace {

// The engine: work items are (tile of T output pixels, row of fb filters), handed out in the packed
// row order; one micro-kernel call per item (or per channel chunk when a tile's input outgrows L1).
class KeptColumnConv final : public PreparedConv {
 public:
  KeptColumnConv(const ConvShape& s, SparseRows rows, const float* bias, const Epilogue& ep, std::string label,
                 Isa isa)
      : PreparedConv(s), r_(std::move(rows)), ep_(ep), label_(std::move(label)), isa_(isa), has_bias_(bias) {
    sub_ = r_.fb;
    kept_weights_ = r_.kept_weights();
    bias_.assign(static_cast<size_t>(s.f), 0.0f);
    if (bias) std::copy(bias, bias + s.f, bias_.begin());
    bias_pad_.assign(static_cast<size_t>(r_.rows() * r_.fb), 0.0f);
    std::copy(bias_.begin(), bias_.end(), bias_pad_.begin());
    const SparseTiling geo = sparse_tiling(s, sub_);
    direct_ = geo.direct;
    hq_ = geo.hq, wq_ = geo.wq;
    plane_ = s.c * hq_ * wq_;
    phase_used_.assign(static_cast<size_t>(s.stride_h * s.stride_w), 0);
    if (s.stride_h * s.stride_w * plane_ + 128 > std::numeric_limits<int32_t>::max())
      throw Error(label_, "input of " + std::to_string(s.stride_h * s.stride_w * plane_) +
                              " floats per image is beyond the sparse engine's 32-bit column offsets");
    off_.resize(r_.cols.size());
    for (size_t j = 0; j < r_.cols.size(); ++j) {
      const int64_t col = r_.cols[j];
      const int64_t kx = col % s.kw, ky = (col / s.kw) % s.kh, c = col / (s.kw * s.kh);
      const int64_t dy = ky * s.dil_h, dx = kx * s.dil_w;
      const int64_t phase = (dy % s.stride_h) * s.stride_w + dx % s.stride_w;
      phase_used_[static_cast<size_t>(phase)] = 1;
      off_[j] = static_cast<int32_t>(phase * plane_ + (c * hq_ + dy / s.stride_h) * wq_ + dx / s.stride_w);
    }
    // The tiling again with the phases the kept columns really read (a mask can empty one).
    int64_t phases_used = 0;
    for (uint8_t u : phase_used_) phases_used += u;
    const SparseTiling t = sparse_tiling(s, sub_, phases_used);
    T_ = t.width, span_ = t.span, tiles_ = t.tiles, chunks_ = t.chunks;
    const int64_t chunk_c = t.chunk_c;
    tile_ = tile_for(sub_, t.width, isa);
    if (!tile_) throw Error(label_, "no micro-kernel for rows of " + std::to_string(sub_) + " filters");
    // Where each 16-lane vector of a tile lands in the output when the kernel stores it (fused epilogue;
    // AVX2 kernels take the two 8-lane halves of each): its lanes at plane columns < OW, which are
    // consecutive output pixels (a row's padding columns sit exactly between the end of one output row
    // and the start of the next).
    fused_ = col_tile_writes_output(isa) && T_ % 16 == 0;
    if (fused_) {
      const int64_t OW = s.out_w(), vecs = tiles_ * T_ / 16;
      lane_mask_.assign(static_cast<size_t>(vecs), 0);
      out_at_.assign(static_cast<size_t>(vecs), 0);
      for (int64_t v = 0; v < vecs; ++v) {
        bool first = true;
        for (int64_t l = 0; l < 16; ++l) {
          const int64_t q = v * 16 + l, oy = q / wq_, ox = q - oy * wq_;
          if (q >= span_ || ox >= OW) continue;
          if (first) out_at_[static_cast<size_t>(v)] = oy * OW + ox, first = false;
          lane_mask_[static_cast<size_t>(v)] = static_cast<uint16_t>(lane_mask_[static_cast<size_t>(v)] | (1u << l));
        }
      }
    }
    rows_per_group_ = std::max<int64_t>(1, kGroupFilters / r_.fb);
    groups_ = ceil_div(r_.rows(), rows_per_group_);
    // Each (row, chunk) segment of kept columns: [begin, end) in the packed rows.
    const int64_t nrows = r_.rows();
    std::vector<int64_t> seg(static_cast<size_t>(nrows * (chunks_ + 1)));
    for (int64_t row = 0; row < nrows; ++row) {
      const auto b = r_.cols.begin() + r_.row_begin[row], e = r_.cols.begin() + r_.row_begin[row + 1];
      for (int64_t k = 0; k <= chunks_; ++k) {
        const int64_t first_col = std::min(k * chunk_c, s.c) * s.kh * s.kw;
        seg[static_cast<size_t>(row * (chunks_ + 1) + k)] = std::lower_bound(b, e, first_col) - r_.cols.begin();
      }
    }
    // Values and offsets are laid out in the order run() walks them (rows in packed order; with channel
    // chunks, each group's rows chunk by chunk), so one sweep reads them as a single forward stream.
    // Walked in packed layout, a chunked layer jumped between its rows' segments: with the weights in
    // DRAM, a 1024-channel 6x6 1x1 layer at pattern 2EP ran 2.4x its LLC-resident time.
    walk_.assign(static_cast<size_t>(nrows * chunks_), 0);
    walk_len_.assign(static_cast<size_t>(nrows * chunks_), 0);
    walk_vals_.reserve(r_.values.size());
    walk_off_.reserve(r_.cols.size());
    auto place = [&](int64_t row, int64_t k) {
      const int64_t j0 = seg[static_cast<size_t>(row * (chunks_ + 1) + k)];
      const int64_t j1 = seg[static_cast<size_t>(row * (chunks_ + 1) + k + 1)];
      walk_[static_cast<size_t>(row * chunks_ + k)] = static_cast<int64_t>(walk_off_.size());
      walk_off_.insert(walk_off_.end(), off_.begin() + j0, off_.begin() + j1);
      walk_vals_.insert(walk_vals_.end(), r_.values.begin() + j0 * r_.fb, r_.values.begin() + j1 * r_.fb);
      walk_len_[static_cast<size_t>(row * chunks_ + k)] = j1 - j0;
    };
    for (int64_t g = 0; g < (chunks_ == 1 ? 1 : groups_); ++g) {
      const int64_t r0 = chunks_ == 1 ? 0 : g * rows_per_group_, r1 = chunks_ == 1 ? nrows : std::min(nrows, r0 + rows_per_group_);
      for (int64_t k = 0; k < chunks_; ++k)
        for (int64_t ri = r0; ri < r1; ++ri) place(r_.order[static_cast<size_t>(ri)], k);
    }
    // The walk copies are what run() reads; the packed rows keep only what sizes and orders them.
    storage_bytes_ = r_.storage_bytes();
    std::vector<float>().swap(r_.values);
    std::vector<int32_t>().swap(off_);
  }

  // The ISA named is the tile's (a path this CPU lacks falls back to generic), as sparse_conv_kernel_name.
  std::string kernel_name() const override { return label_ + "_" + tile_isa_name(isa_); }
  int64_t weight_bytes() const override {
    return storage_bytes_ + (has_bias_ ? static_cast<int64_t>(sizeof(float) * bias_.size()) : 0);
  }
  int64_t executed_macs() const override { return kept_weights_ * shape_.n * shape_.out_h() * shape_.out_w(); }

  void run(const float* in, float* out, ThreadPool& pool) const override {
    const ConvShape& s = shape_;
    const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW;
    const int64_t phases = s.stride_h * s.stride_w;
    // The phase copy lives on between calls (per calling thread): a fresh zero-filled vector cost a
    // page-faulting allocation and a memset of every phase per call, more than a strided 1x1 layer's
    // kernel time. build_phases writes every element of the phases the columns read, and the slack.
    thread_local std::vector<float> scratch;
    if (!direct_ && scratch.size() < static_cast<size_t>(phases * plane_ + T_ + 64))
      scratch.resize(static_cast<size_t>(phases * plane_ + T_ + 64));
    const int64_t nrows = r_.rows();
    for (int64_t b = 0; b < s.n; ++b) {
      const float* x = in + b * s.c * s.h * s.w;
      const float* base = x;
      if (!direct_) {
        build_phases(x, scratch.data(), pool);
        base = scratch.data();
      }
      float* ob = out + b * s.f * P;
      if (chunks_ == 1) {
        const int64_t items = tiles_ * nrows;
        pool.parallel_for(static_cast<size_t>(items), [&](size_t i0, size_t i1) {
          alignas(64) float acc[16 * 128];
          for (size_t item = i0; item < i1; ++item) {
            const int64_t tile = static_cast<int64_t>(item) / nrows;
            const int64_t row = r_.order[static_cast<size_t>(item) % static_cast<size_t>(nrows)];
            const int64_t q0 = tile * T_, valid = std::min(T_, span_ - q0);
            if (fused_) {
              call_tile(base, row, 0, q0, valid, nullptr, acc, ob, P);
              continue;
            }
            call_tile(base, row, 0, q0, valid, nullptr, acc);
            finish(acc, row * r_.fb, q0, valid, ob, OW, P);
          }
        });
        continue;
      }
      const int64_t items = tiles_ * groups_;
      pool.parallel_for(static_cast<size_t>(items), [&](size_t i0, size_t i1) {
        alignas(64) float acc[kGroupFilters * 128];  // rows_per_group * fb * T <= 32 * 128
        for (size_t item = i0; item < i1; ++item) {
          const int64_t tile = static_cast<int64_t>(item) / groups_;
          const int64_t g = static_cast<int64_t>(item) % groups_;
          const int64_t q0 = tile * T_, valid = std::min(T_, span_ - q0);
          const int64_t r0 = g * rows_per_group_, r1 = std::min(nrows, r0 + rows_per_group_);
          for (int64_t k = 0; k < chunks_; ++k)
            for (int64_t ri = r0; ri < r1; ++ri) {
              const int64_t row = r_.order[static_cast<size_t>(ri)];
              float* slot = acc + (ri - r0) * r_.fb * T_;
              // The last chunk stores to the output itself when the kernel fuses the epilogue.
              const bool last = fused_ && k + 1 == chunks_;
              call_tile(base, row, k, q0, valid, k ? slot : nullptr, slot, last ? ob : nullptr, P);
            }
          if (fused_) continue;
          for (int64_t ri = r0; ri < r1; ++ri) {
            const int64_t row = r_.order[static_cast<size_t>(ri)];
            finish(acc + (ri - r0) * r_.fb * T_, row * r_.fb, q0, valid, ob, OW, P);
          }
        }
      });
    }
  }

 private:
  // One micro-kernel call: the fb filters of `row` over the columns of channel chunk k.
  // With `ob` (the batch's output), the kernel applies the epilogue and writes the output (fused_ only).
  void call_tile(const float* base, int64_t row, int64_t k, int64_t q0, int64_t valid, const float* init,
                 float* acc, float* ob = nullptr, int64_t P = 0) const {
    const int64_t j0 = walk_[static_cast<size_t>(row * chunks_ + k)];
    ColTileArgs a;
    a.base = base + q0;
    a.off = walk_off_.data() + j0;
    a.vals = walk_vals_.data() + j0 * r_.fb;
    a.vstride = r_.fb;
    a.ncols = walk_len_[static_cast<size_t>(row * chunks_ + k)];
    a.bias = bias_pad_.data() + row * r_.fb;
    a.init = init;
    a.acc = acc;
    a.valid = direct_ ? valid : T_;  // the padded copy has zeroed slack past its end
    if (ob) {
      const int64_t f0 = row * r_.fb, v0 = q0 / 16;
      a.out = ob + f0 * P;
      a.ep = &ep_;
      a.out_stride = P;
      a.nf = std::min<int64_t>(r_.fb, shape_.f - f0);
      a.lane_mask = lane_mask_.data() + v0;
      a.out_at = out_at_.data() + v0;
    }
    tile_(a);
  }

  void finish(float* acc, int64_t f0, int64_t q0, int64_t valid, float* ob, int64_t OW, int64_t P) const {
    const int64_t nf = std::min<int64_t>(sub_, shape_.f - f0);
    if (ep_.act != Act::kNone) apply_act_inplace(isa_, ep_, acc, nf * T_);
    store(acc, nf, q0, valid, ob + f0 * P, OW, P);
  }

  // Copies tile lanes [0, valid) of nf filters to their output pixels, skipping plane columns >= OW.
  void store(const float* acc, int64_t nf, int64_t q0, int64_t valid, float* o, int64_t OW, int64_t P) const {
    if (wq_ == OW) {
      for (int64_t f = 0; f < nf; ++f)
        std::memcpy(o + f * P + q0, acc + f * T_, static_cast<size_t>(valid) * sizeof(float));
      return;
    }
    int64_t q = q0;
    const int64_t qe = q0 + valid;
    int64_t oy = q / wq_, ox = q - oy * wq_;
    while (q < qe) {
      const int64_t run = std::min(wq_ - ox, qe - q);
      const int64_t keep = std::min(run, std::max<int64_t>(OW - ox, 0));
      if (keep > 0)
        for (int64_t f = 0; f < nf; ++f)
          std::memcpy(o + f * P + oy * OW + ox, acc + f * T_ + (q - q0), static_cast<size_t>(keep) * sizeof(float));
      q += run;
      ++oy;
      ox = 0;
    }
  }

  // Zero-padded input split into stride phases: phase (a, b) holds padded pixel (y * sh + a, x * sw + b).
  void build_phases(const float* x, float* dst, ThreadPool& pool) const {
    const ConvShape& s = shape_;
    const int64_t sh = s.stride_h, sw = s.stride_w;
    if (sw == 2) {
      build_phase_pairs(x, dst, pool);
      std::memset(dst + sh * sw * plane_, 0, static_cast<size_t>(T_ + 64) * sizeof(float));
      return;
    }
    pool.parallel_for(static_cast<size_t>(s.c), [&](size_t c0, size_t c1) {
      for (int64_t ph = 0; ph < sh * sw; ++ph) {
        if (!phase_used_[static_cast<size_t>(ph)]) continue;
        const int64_t a = ph / sw, bo = ph % sw;
        for (int64_t c = static_cast<int64_t>(c0); c < static_cast<int64_t>(c1); ++c) {
          const float* xc = x + c * s.h * s.w;
          float* d = dst + ph * plane_ + c * hq_ * wq_;
          for (int64_t y = 0; y < hq_; ++y) {
            float* drow = d + y * wq_;
            const int64_t iy = y * sh + a - s.pad_top;
            if (iy < 0 || iy >= s.h) {
              std::memset(drow, 0, static_cast<size_t>(wq_) * sizeof(float));
              continue;
            }
            const float* srow = xc + iy * s.w;
            if (sw == 1) {
              const int64_t lo = std::min(s.pad_left, wq_);
              const int64_t n = std::max<int64_t>(0, std::min(s.w, wq_ - lo));
              std::memset(drow, 0, static_cast<size_t>(lo) * sizeof(float));
              std::memcpy(drow + lo, srow, static_cast<size_t>(n) * sizeof(float));
              std::memset(drow + lo + n, 0, static_cast<size_t>(wq_ - lo - n) * sizeof(float));
            } else {
              // Columns xq in [lo, hi) read input pixel xq * sw + bo - pad_left; the rest are padding.
              // A branch-free strided copy (stride 2 a constant) vectorises; this copy is the whole
              // cost of a strided 1x1 layer at high sparsity.
              const int64_t first = s.pad_left - bo;  // xq * sw >= first
              const int64_t lo = std::min(wq_, first > 0 ? ceil_div(first, sw) : 0);
              const int64_t hi = std::max(lo, std::min(wq_, s.w - 1 + first >= 0 ? (s.w - 1 + first) / sw + 1 : 0));
              std::fill(drow, drow + lo, 0.0f);
              const float* src = srow + lo * sw - first;
              if (sw == 2)
                for (int64_t xq = 0; xq < hi - lo; ++xq) drow[lo + xq] = src[2 * xq];
              else
                for (int64_t xq = 0; xq < hi - lo; ++xq) drow[lo + xq] = src[xq * sw];
              std::fill(drow + hi, drow + wq_, 0.0f);
            }
          }
        }
      }
    });
    std::memset(dst + sh * sw * plane_, 0, static_cast<size_t>(T_ + 64) * sizeof(float));
  }

  // Stride 2 across: each input row is padded once and split into its even and odd columns, the two
  // column phases, four floats at a time (a row of both phases read and deinterleaved in one pass). The
  // strided copy a phase at a time did not vectorise and re-read every row for each phase: it took 30%
  // of a block-pruned 3x3 stride-2 layer (64 channels at 56x56: 102 of 345 us, AMD EPYC); this 58 us.
  void build_phase_pairs(const float* x, float* dst, ThreadPool& pool) const {
    const ConvShape& s = shape_;
    const int64_t sh = s.stride_h, row_len = 2 * wq_;
    pool.parallel_for(static_cast<size_t>(s.c), [&](size_t c0, size_t c1) {
      // Per thread, kept between calls like the phase copy: an allocation per chunk per run sat on the
      // hot path of every strided layer. Every float of it that is read is written first.
      thread_local std::vector<float> padded;
      if (padded.size() < static_cast<size_t>(row_len + 8)) padded.resize(static_cast<size_t>(row_len + 8));
      float* pr = padded.data();
      // Padded column j holds input column j - pad_left: zeros around the row's own floats.
      const int64_t lo = std::clamp<int64_t>(s.pad_left, 0, row_len);
      const int64_t n = std::clamp<int64_t>(std::min(s.w, row_len - s.pad_left), 0, s.w);
      for (int64_t a = 0; a < sh; ++a) {
        const bool even = phase_used_[static_cast<size_t>(a * 2)], odd = phase_used_[static_cast<size_t>(a * 2 + 1)];
        if (!even && !odd) continue;
        for (int64_t c = static_cast<int64_t>(c0); c < static_cast<int64_t>(c1); ++c) {
          float* d0 = dst + (a * 2) * plane_ + c * hq_ * wq_;
          float* d1 = d0 + plane_;
          for (int64_t y = 0; y < hq_; ++y, d0 += wq_, d1 += wq_) {
            const int64_t iy = y * sh + a - s.pad_top;
            if (iy < 0 || iy >= s.h) {
              if (even) std::memset(d0, 0, static_cast<size_t>(wq_) * sizeof(float));
              if (odd) std::memset(d1, 0, static_cast<size_t>(wq_) * sizeof(float));
              continue;
            }
            std::fill(pr, pr + lo, 0.0f);
            std::memcpy(pr + lo, x + (c * s.h + iy) * s.w + (lo - s.pad_left), static_cast<size_t>(n) * sizeof(float));
            std::fill(pr + lo + n, pr + row_len, 0.0f);
            deinterleave(pr, even ? d0 : nullptr, odd ? d1 : nullptr, wq_);
          }
        }
      }
    });
  }

  // e[i] = p[2i], o[i] = p[2i + 1] for i < n (either may be null).
  static void deinterleave(const float* p, float* e, float* o, int64_t n) {
    typedef float v4 __attribute__((vector_size(16)));
    typedef int v4i __attribute__((vector_size(16)));
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      v4 a, b;
      std::memcpy(&a, p + 2 * i, sizeof a);
      std::memcpy(&b, p + 2 * i + 4, sizeof b);
      if (e) {
        const v4 v = __builtin_shuffle(a, b, v4i{0, 2, 4, 6});
        std::memcpy(e + i, &v, sizeof v);
      }
      if (o) {
        const v4 v = __builtin_shuffle(a, b, v4i{1, 3, 5, 7});
        std::memcpy(o + i, &v, sizeof v);
      }
    }
    for (; i < n; ++i) {
      if (e) e[i] = p[2 * i];
      if (o) o[i] = p[2 * i + 1];
    }
  }

  SparseRows r_;
  Epilogue ep_;
  std::string label_;
  Isa isa_;
  bool has_bias_ = false;
  int64_t kept_weights_ = 0;
  int sub_ = 1;
  ColTileFn tile_ = nullptr;
  int64_t T_ = 16;
  std::vector<float> bias_, bias_pad_;
  std::vector<int32_t> off_;  // packed order, construction only
  // In walk order: per kept column its fb values and its input offset (int32: every row streams them
  // beside its values; int64 made fb = 1 rows 12 bytes a weight); per (row, chunk) where its segment
  // starts and how many columns it has.
  std::vector<float> walk_vals_;
  std::vector<int32_t> walk_off_;
  std::vector<int64_t> walk_, walk_len_;
  int64_t storage_bytes_ = 0;
  std::vector<uint8_t> phase_used_;
  int64_t chunks_ = 1, rows_per_group_ = 1, groups_ = 1;
  bool direct_ = false;
  bool fused_ = false;                // the kernel writes the output (lane_mask_, out_at_ per 16 lanes)
  std::vector<uint16_t> lane_mask_;
  std::vector<int64_t> out_at_;
  int64_t hq_ = 0, wq_ = 0, plane_ = 0, span_ = 0, tiles_ = 0;
};

}  // namespace

std::string sparse_conv_kernel_name(const SparseFormat& f, Isa isa) { return f.name() + "_" + isa_name(isa); }

std::unique_ptr<PreparedConv> prepare_sparse_conv(const ConvDesc& d, SparseRows rows, const float* bias, Isa isa) {
  d.shape.validate();
  const std::string name = d.sparse.name();
  const std::string where = name + " conv " + d.shape.str();
  if (rows.fb != d.sparse.row_height())
    throw Error(where, "rows of " + std::to_string(rows.fb) + " filters, the format packs " +
                           std::to_string(d.sparse.row_height()));
  rows.validate(d.shape, where);
  return std::make_unique<KeptColumnConv>(d.shape, std::move(rows), bias, d.ep, name, isa);
}

std::unique_ptr<PreparedConv> prepare_sparse_conv(const ConvShape& s, const float* w, const float* bias,
                                                  const Epilogue& ep, const std::vector<uint8_t>& keep, int fb,
                                                  const std::string& label, Isa isa) {
  ConvDesc d;
  d.shape = s;
  d.ep = ep;
  d.sparse = SparseFormat::from_name(label, "sparse conv " + s.str());
  s.validate();
  return prepare_sparse_conv(d, pack_sparse_rows(s, w, keep, fb), bias, isa);
}

}  // namespace hilsim::kernels

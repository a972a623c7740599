#include "hilsim/kernels/sparse_conv.h"

#include <algorithm>
#include <numeric>

#include "hilsim/kernels/gemm.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

SparseTileFn tile_fn(int fb, Isa isa) {
#if defined(__x86_64__) || defined(_M_X64)
  if (isa == Isa::kAvx512 && isa_supported(Isa::kAvx512)) return sparse_tile_avx512(fb);
  if (isa != Isa::kGeneric && isa_supported(Isa::kAvx2)) return sparse_tile_avx2(fb);
#endif
  (void)isa;
  return sparse_tile_generic(fb);
}

class SparseConv final : public PreparedConv {
 public:
  SparseConv(const ConvShape& s, SparseRows rows, const float* bias, const Epilogue& ep, std::string label, Isa isa)
      : PreparedConv(s), rows_(std::move(rows)), ep_(ep), label_(std::move(label)), isa_(isa) {
    bias_.assign(static_cast<size_t>(s.f), 0.0f);
    if (bias) std::copy(bias, bias + s.f, bias_.begin());
    bias_pad_.assign(static_cast<size_t>(round_up(s.f, rows_.fb)), 0.0f);
    std::copy(bias_.begin(), bias_.end(), bias_pad_.begin());
    tile_ = tile_fn(rows_.fb, isa);
    if (!tile_) throw Error("sparse conv", "no micro-kernel for rows of " + std::to_string(rows_.fb) + " filters");
    T_ = sparse_tile_width(rows_.fb);
    // Stride-phase geometry: column (c, ky, kx) reads phase (dy % sh, dx % sw) at offset (dy / sh, dx / sw).
    // Without padding and stride the input itself is the single phase plane (no copy: 1x1 layers are
    // too cheap to afford one).
    direct_ = s.stride_h == 1 && s.stride_w == 1 && !s.pad_top && !s.pad_left && !s.pad_bottom && !s.pad_right;
    const int64_t ph = s.h + s.pad_top + s.pad_bottom, pw = s.w + s.pad_left + s.pad_right;
    phs_ = ceil_div(ph, s.stride_h);
    pwa_ = ceil_div(pw, s.stride_w);
    plane_ = s.c * phs_ * pwa_;
    off_.resize(rows_.cols.size());
    int64_t max_off = 0;
    for (size_t j = 0; j < rows_.cols.size(); ++j) {
      const int64_t col = rows_.cols[j];
      const int64_t kx = col % s.kw, ky = (col / s.kw) % s.kh, c = col / (s.kw * s.kh);
      const int64_t dy = ky * s.dil_h, dx = kx * s.dil_w;
      const int64_t phase = (dy % s.stride_h) * s.stride_w + dx % s.stride_w;
      off_[j] = phase * plane_ + (c * phs_ + dy / s.stride_h) * pwa_ + dx / s.stride_w;
      max_off = std::max(max_off, off_[j]);
    }
    // Output pixel (oy, ox) sits at flattened plane position q = oy * pwa + ox; tiles of T consecutive
    // q cover several short rows at once (the ox >= OW columns are computed and dropped).
    span_ = (s.out_h() - 1) * pwa_ + s.out_w();
    tiles_ = ceil_div(span_, T_);
    // In direct mode a full tile may not read past the caller's input: the last tiles go scalar.
    const int64_t in_elems = s.c * s.h * s.w;
    safe_tiles_ = tiles_;
    if (direct_)
      while (safe_tiles_ > 0 && (safe_tiles_ - 1) * T_ + T_ + max_off > in_elems) --safe_tiles_;
  }

  void run(const float* in, float* out, ThreadPool& pool) const override {
    const ConvShape& s = shape_;
    const int64_t OH = s.out_h(), OW = s.out_w();
    const int64_t phases = s.stride_h * s.stride_w;
    thread_local std::vector<float> scratch;
    if (!direct_) {
      const size_t need = static_cast<size_t>(phases * plane_ + T_ + 64);
      if (scratch.size() < need) scratch.resize(need, 0.0f);
    }
    const int64_t nrows = rows_.rows();
    for (int64_t n = 0; n < s.n; ++n) {
      const float* x = in + n * s.c * s.h * s.w;
      const float* planes = x;
      if (!direct_) {
        float* dst0 = scratch.data();
        pool.parallel_for(static_cast<size_t>(s.c), [&](size_t c0, size_t c1) {
          // One zero-padded input row at a time, dealt out to its stride phases in a single pass.
          std::vector<float> padded(static_cast<size_t>(pwa_ * s.stride_w + s.stride_w), 0.0f);
          for (int64_t c = static_cast<int64_t>(c0); c < static_cast<int64_t>(c1); ++c)
            for (int64_t py = 0; py < s.stride_h; ++py)
              for (int64_t y = 0; y < phs_; ++y) {
                const int64_t iy = y * s.stride_h + py - s.pad_top;
                float* rows0 = dst0 + py * s.stride_w * plane_ + (c * phs_ + y) * pwa_;
                if (iy < 0 || iy >= s.h) {
                  for (int64_t px = 0; px < s.stride_w; ++px) std::fill(rows0 + px * plane_, rows0 + px * plane_ + pwa_, 0.0f);
                  continue;
                }
                const float* src = x + (c * s.h + iy) * s.w;
                if (s.stride_w == 1) {
                  std::fill(rows0, rows0 + s.pad_left, 0.0f);
                  std::copy(src, src + s.w, rows0 + s.pad_left);
                  std::fill(rows0 + s.pad_left + s.w, rows0 + pwa_, 0.0f);
                  continue;
                }
                // Only [pad_left, pad_left + w) is ever written: the padding stays zero.
                std::copy(src, src + std::min<int64_t>(s.w, static_cast<int64_t>(padded.size()) - s.pad_left),
                          padded.begin() + s.pad_left);
                if (s.stride_w == 2) {
                  float* r0 = rows0;
                  float* r1 = rows0 + plane_;
                  for (int64_t xx = 0; xx < pwa_; ++xx) {
                    r0[xx] = padded[2 * xx];
                    r1[xx] = padded[2 * xx + 1];
                  }
                } else {
                  for (int64_t px = 0; px < s.stride_w; ++px)
                    for (int64_t xx = 0; xx < pwa_; ++xx) rows0[px * plane_ + xx] = padded[xx * s.stride_w + px];
                }
              }
        }, 4);
        planes = dst0;
      }
      float* y = out + n * s.f * OH * OW;
      const int fb = rows_.fb;
      pool.parallel_for(static_cast<size_t>(nrows * tiles_), [&](size_t b, size_t e) {
        alignas(64) float acc[16 * 64];
        // Tile-major: every row of filters uses the same input neighbourhood while it is in cache.
        int64_t tile = static_cast<int64_t>(b / static_cast<size_t>(nrows));
        int64_t ri = static_cast<int64_t>(b % static_cast<size_t>(nrows));
        for (size_t item = b; item < e; ++item) {
          const int64_t r = rows_.order[ri];
          const int64_t j0 = rows_.row_begin[r], nc = rows_.row_begin[r + 1] - j0;
          const int64_t f0 = r * fb, fr = std::min<int64_t>(fb, s.f - f0);
          const int64_t q0 = tile * T_, cnt = std::min<int64_t>(T_, span_ - q0);
          const float* vals = rows_.values.data() + j0 * fb;
          const float* bias = bias_pad_.data() + f0;
          if (tile < safe_tiles_) {
            SparseTileArgs a{planes, off_.data() + j0, vals, nc, q0, acc, bias};
            tile_(a);
          } else {
            // The input's last pixels: the tile would read past the caller's buffer, so each column's
            // run is copied (zero-filled past the end) into a private buffer first.
            thread_local std::vector<float> tail;
            thread_local std::vector<int64_t> toff;
            tail.assign(static_cast<size_t>(nc * T_ + 64), 0.0f);
            toff.resize(static_cast<size_t>(std::max<int64_t>(nc, 1)));
            const int64_t in_elems = s.c * s.h * s.w;
            for (int64_t j = 0; j < nc; ++j) {
              const int64_t src = off_[j0 + j] + q0;
              const int64_t m = std::max<int64_t>(0, std::min<int64_t>(T_, in_elems - src));
              std::copy(planes + src, planes + src + m, tail.data() + j * T_);
              toff[j] = j * T_;
            }
            SparseTileArgs a{tail.data(), toff.data(), vals, nc, 0, acc, bias};
            tile_(a);
          }
          if (ep_.act != Act::kNone) apply_act_inplace(isa_, ep_, acc, fr * T_);
          // Copy the runs of valid pixels (ox < OW) out, one output row at a time.
          int64_t t = 0, oy = q0 / pwa_, ox = q0 - oy * pwa_;
          while (t < cnt) {
            const int64_t run = std::min(cnt - t, pwa_ - ox);
            if (ox < OW) {
              const int64_t m = std::min(run, OW - ox);
              for (int64_t f = 0; f < fr; ++f) {
                const float* src = acc + f * T_ + t;
                float* dst = y + ((f0 + f) * OH + oy) * OW + ox;
                for (int64_t i = 0; i < m; ++i) dst[i] = src[i];
              }
            }
            t += run;
            ++oy;
            ox = 0;
          }
          if (++ri == nrows) ri = 0, ++tile;
        }
      }, 1);
    }
  }

  std::string kernel_name() const override { return label_ + "_" + isa_name(isa_); }
  int64_t weight_bytes() const override { return rows_.storage_bytes() + static_cast<int64_t>(bias_.size()) * 4; }
  int64_t executed_macs() const override { return rows_.kept_weights * shape_.n * shape_.out_h() * shape_.out_w(); }

 private:
  SparseRows rows_;
  Epilogue ep_;
  std::string label_;
  Isa isa_;
  std::vector<float> bias_, bias_pad_;
  SparseTileFn tile_ = nullptr;
  int T_ = 16;
  bool direct_ = false;
  int64_t phs_ = 0, pwa_ = 0, plane_ = 0, span_ = 0, tiles_ = 0, safe_tiles_ = 0;
  std::vector<int64_t> off_;
};

}  // namespace

int sparse_tile_width(int fb) { return fb <= 4 ? 64 : fb == 8 ? 32 : 16; }

int64_t SparseRows::storage_bytes() const {
  return static_cast<int64_t>(values.size() * sizeof(float) + cols.size() * sizeof(int32_t) +
                              row_begin.size() * sizeof(int32_t));
}

SparseRows pack_sparse_rows(const ConvShape& s, const float* w, const std::vector<uint8_t>& keep, int fb) {
  if (s.groups != 1) throw Error("sparse conv " + s.str(), "sparse formats need groups = 1");
  if (fb != 1 && fb != 2 && fb != 4 && fb != 8 && fb != 16)
    throw Error("sparse conv " + s.str(), "row height " + std::to_string(fb) + " is not 1, 2, 4, 8 or 16");
  const int64_t K = s.c * s.kh * s.kw;
  if (static_cast<int64_t>(keep.size()) != s.f * K)
    throw Error("sparse conv " + s.str(), "mask has " + std::to_string(keep.size()) + " entries for " +
                                             std::to_string(s.f * K) + " weights");
  SparseRows r;
  r.fb = fb;
  r.f = s.f;
  r.c = s.c;
  r.kh = s.kh;
  r.kw = s.kw;
  const int64_t nrows = ceil_div(s.f, fb);
  r.row_begin.push_back(0);
  for (int64_t row = 0; row < nrows; ++row) {
    const int64_t f0 = row * fb, fr = std::min<int64_t>(fb, s.f - f0);
    for (int64_t k = 0; k < K; ++k) {
      bool any = false;
      for (int64_t f = 0; f < fr && !any; ++f) any = keep[(f0 + f) * K + k] != 0;
      if (!any) continue;
      r.cols.push_back(static_cast<int32_t>(k));
      for (int64_t f = 0; f < fb; ++f) {
        const bool kept = f < fr && keep[(f0 + f) * K + k];
        r.values.push_back(kept ? w[(f0 + f) * K + k] : 0.0f);
        r.kept_weights += kept;
      }
    }
    r.row_begin.push_back(static_cast<int64_t>(r.cols.size()));
  }
  r.order.resize(static_cast<size_t>(nrows));
  std::iota(r.order.begin(), r.order.end(), 0);
  std::stable_sort(r.order.begin(), r.order.end(), [&](int32_t a, int32_t b) {
    return r.row_begin[a + 1] - r.row_begin[a] > r.row_begin[b + 1] - r.row_begin[b];
  });
  return r;
}

std::unique_ptr<PreparedConv> prepare_sparse_conv(const ConvShape& s, const float* w, const float* bias,
                                                  const Epilogue& ep, const std::vector<uint8_t>& keep, int fb,
                                                  const std::string& label, Isa isa) {
  s.validate();
  return std::make_unique<SparseConv>(s, pack_sparse_rows(s, w, keep, std::min(fb, 16)), bias, ep, label, isa);
}

std::unique_ptr<PreparedConv> prepare_sparse_conv_from_rows(const ConvShape& s, SparseRows rows, const float* bias,
                                                            const Epilogue& ep, const std::string& label, Isa isa) {
  s.validate();
  const std::string where = "packed conv " + s.str();
  if (rows.f != s.f || rows.c != s.c || rows.kh != s.kh || rows.kw != s.kw || s.groups != 1)
    throw Error(where, "packed rows are for f" + std::to_string(rows.f) + " c" + std::to_string(rows.c) + " k" +
                           std::to_string(rows.kh) + "x" + std::to_string(rows.kw));
  if (rows.fb != 1 && rows.fb != 2 && rows.fb != 4 && rows.fb != 8 && rows.fb != 16) throw Error(where, "bad row height");
  const int64_t nrows = (s.f + rows.fb - 1) / rows.fb, K = s.c * s.kh * s.kw;
  if (rows.rows() != nrows || rows.row_begin.front() != 0 ||
      rows.row_begin.back() != static_cast<int64_t>(rows.cols.size()) ||
      rows.values.size() != rows.cols.size() * static_cast<size_t>(rows.fb) ||
      rows.order.size() != static_cast<size_t>(nrows))
    throw Error(where, "packed rows are inconsistent");
  for (size_t i = 1; i < rows.row_begin.size(); ++i)
    if (rows.row_begin[i] < rows.row_begin[i - 1]) throw Error(where, "packed row offsets decrease");
  for (int32_t c : rows.cols)
    if (c < 0 || c >= K) throw Error(where, "packed column index out of range");
  std::vector<char> seen(static_cast<size_t>(nrows), 0);
  for (int32_t r : rows.order) {
    if (r < 0 || r >= nrows || seen[r]) throw Error(where, "packed row order is not a permutation");
    seen[r] = 1;
  }
  return std::make_unique<SparseConv>(s, std::move(rows), bias, ep, label, isa);
}

}  // namespace hilsim::kernels

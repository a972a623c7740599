#include "hilsim/kernels/block_sparse_conv.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "hilsim/kernels/gemm.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Input bytes one tile's channel chunk may span (about L1), and filters per work item when chunked.
constexpr int64_t kL1Budget = 24 * 1024;
constexpr int64_t kGroupFilters = 32;

bool fb_supported(int fb) { return fb == 1 || fb == 2 || fb == 4 || fb == 8 || fb == 16 || fb == 32; }

template <int FB, int T>
void generic_tile(const ColTileArgs& a) {
  float acc[FB][T];
  for (int f = 0; f < FB; ++f)
    for (int t = 0; t < T; ++t) acc[f][t] = a.init ? a.init[f * T + t] : a.bias[f];
  if (a.valid >= T) {
    for (int64_t j = 0; j < a.ncols; ++j) {
      const float* __restrict src = a.base + a.off[j];
      const float* __restrict v = a.vals + j * a.vstride;
      for (int f = 0; f < FB; ++f) {
        const float w = v[f];
        for (int t = 0; t < T; ++t) acc[f][t] += w * src[t];
      }
    }
  } else {
    const int n = static_cast<int>(std::max<int64_t>(a.valid, 0));
    for (int64_t j = 0; j < a.ncols; ++j) {
      const float* src = a.base + a.off[j];
      const float* v = a.vals + j * a.vstride;
      for (int f = 0; f < FB; ++f)
        for (int t = 0; t < n; ++t) acc[f][t] += v[f] * src[t];
    }
  }
  std::memcpy(a.acc, acc, sizeof acc);
}

ColTileFn tile_for(int fb, int width, Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512 && isa_supported(Isa::kAvx512)) return col_tile_avx512(fb, width);
  if (isa == Isa::kAvx2 && isa_supported(Isa::kAvx2)) return col_tile_avx2(fb, width);
#endif
  (void)isa;
  return col_tile_generic(fb, width);
}

const char* tile_isa_name(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512 && isa_supported(Isa::kAvx512)) return "avx512";
  if (isa == Isa::kAvx2 && isa_supported(Isa::kAvx2)) return "avx2";
#endif
  (void)isa;
  return "generic";
}

class KeptColumnConv final : public PreparedConv {
 public:
  KeptColumnConv(const ConvShape& s, KeptColumnRows rows, const float* bias, const Epilogue& ep, std::string label,
                 Isa isa)
      : PreparedConv(s), r_(std::move(rows)), ep_(ep), label_(std::move(label)), isa_(isa) {
    sub_ = std::min(r_.fb, 16);
    // One-filter rows run 128-pixel tiles when the output plane fills them (fewer calls per column).
    const int64_t plane_w = ceil_div(s.w + s.pad_left + s.pad_right, s.stride_w);
    const int64_t plane_span = (s.out_h() - 1) * plane_w + s.out_w();
    const int width = sub_ == 1 && plane_span >= 112 ? 128 : col_tile_width(sub_);
    tile_ = tile_for(sub_, width, isa);
    if (!tile_) throw Error(label_, "no micro-kernel for rows of " + std::to_string(sub_) + " filters");
    T_ = width;
    bias_.assign(static_cast<size_t>(s.f), 0.0f);
    if (bias) std::copy(bias, bias + s.f, bias_.begin());
    bias_pad_.assign(static_cast<size_t>(r_.rows() * r_.fb), 0.0f);
    std::copy(bias_.begin(), bias_.end(), bias_pad_.begin());
    // Longest rows first: a dynamically handed-out tail of short rows balances the threads.
    order_.resize(static_cast<size_t>(r_.rows()));
    std::iota(order_.begin(), order_.end(), 0);
    std::stable_sort(order_.begin(), order_.end(), [&](int64_t a, int64_t b) {
      return r_.row_begin[a + 1] - r_.row_begin[a] > r_.row_begin[b + 1] - r_.row_begin[b];
    });
    // 1x1 stride-1 unpadded convs read the input in place (a copy would cost as much as the layer).
    direct_ = s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && !s.pad_top && !s.pad_left &&
              !s.pad_bottom && !s.pad_right;
    const int64_t hp = s.h + s.pad_top + s.pad_bottom, wp = s.w + s.pad_left + s.pad_right;
    hq_ = direct_ ? s.h : ceil_div(hp, s.stride_h);
    wq_ = direct_ ? s.w : ceil_div(wp, s.stride_w);
    plane_ = s.c * hq_ * wq_;
    phase_used_.assign(static_cast<size_t>(s.stride_h * s.stride_w), 0);
    off_.resize(r_.cols.size());
    for (size_t j = 0; j < r_.cols.size(); ++j) {
      const int64_t col = r_.cols[j];
      const int64_t kx = col % s.kw, ky = (col / s.kw) % s.kh, c = col / (s.kw * s.kh);
      const int64_t dy = ky * s.dil_h, dx = kx * s.dil_w;
      const int64_t phase = (dy % s.stride_h) * s.stride_w + dx % s.stride_w;
      phase_used_[static_cast<size_t>(phase)] = 1;
      off_[j] = phase * plane_ + (c * hq_ + dy / s.stride_h) * wq_ + dx / s.stride_w;
    }
    // Output (oy, ox) is plane position oy * wq + ox; a tile spans T positions (ox >= OW dropped).
    span_ = (s.out_h() - 1) * wq_ + s.out_w();
    tiles_ = ceil_div(span_, T_);
    // Channel chunks: a tile's input over all channels can outgrow L1 (then every row streams it from
    // L2); rows then run chunk by chunk, carrying their accumulators in a small buffer.
    int64_t phases_used = 0;
    for (uint8_t u : phase_used_) phases_used += u;
    const int64_t per_ch = direct_ ? T_ : std::max<int64_t>(phases_used, 1) *
                                              (T_ + ((s.kh - 1) * s.dil_h / s.stride_h + 1) * wq_);
    const int64_t chunk_c = std::clamp<int64_t>(kL1Budget / (per_ch * 4), 1, s.c);
    chunks_ = ceil_div(s.c, chunk_c);
    rows_per_group_ = std::max<int64_t>(1, kGroupFilters / r_.fb);
    groups_ = ceil_div(r_.rows(), rows_per_group_);
    seg_.resize(static_cast<size_t>(r_.rows() * (chunks_ + 1)));
    for (int64_t row = 0; row < r_.rows(); ++row) {
      const auto b = r_.cols.begin() + r_.row_begin[row], e = r_.cols.begin() + r_.row_begin[row + 1];
      for (int64_t k = 0; k <= chunks_; ++k) {
        const int64_t first_col = std::min(k * chunk_c, s.c) * s.kh * s.kw;
        seg_[static_cast<size_t>(row * (chunks_ + 1) + k)] =
            std::lower_bound(b, e, first_col) - r_.cols.begin();
      }
    }
  }

  std::string kernel_name() const override { return label_ + "_" + tile_isa_name(isa_); }
  int64_t weight_bytes() const override {
    return r_.storage_bytes() + static_cast<int64_t>(sizeof(float) * bias_.size());
  }
  int64_t executed_macs() const override { return r_.kept_weights() * shape_.n * shape_.out_h() * shape_.out_w(); }

  void run(const float* in, float* out, ThreadPool& pool) const override {
    const ConvShape& s = shape_;
    const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW;
    const int64_t phases = s.stride_h * s.stride_w;
    std::vector<float> scratch;
    if (!direct_) scratch.resize(static_cast<size_t>(phases * plane_ + T_ + 64));
    const int64_t nrows = r_.rows();
    const int64_t halves = r_.fb / sub_;
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
            const int64_t row = order_[static_cast<size_t>(item) % static_cast<size_t>(nrows)];
            const int64_t q0 = tile * T_, valid = std::min(T_, span_ - q0);
            for (int64_t h = 0; h < halves; ++h) {
              const int64_t f0 = row * r_.fb + h * sub_;
              if (f0 >= s.f) break;
              call_tile(base, row, h, 0, q0, valid, nullptr, acc);
              finish(acc, f0, q0, valid, ob, OW, P);
            }
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
              const int64_t row = order_[static_cast<size_t>(ri)];
              for (int64_t h = 0; h < halves; ++h) {
                if (row * r_.fb + h * sub_ >= s.f) break;
                float* slot = acc + ((ri - r0) * r_.fb + h * sub_) * T_;
                call_tile(base, row, h, k, q0, valid, k ? slot : nullptr, slot);
              }
            }
          for (int64_t ri = r0; ri < r1; ++ri) {
            const int64_t row = order_[static_cast<size_t>(ri)];
            for (int64_t h = 0; h < halves; ++h) {
              const int64_t f0 = row * r_.fb + h * sub_;
              if (f0 >= s.f) break;
              finish(acc + ((ri - r0) * r_.fb + h * sub_) * T_, f0, q0, valid, ob, OW, P);
            }
          }
        }
      });
    }
  }

 private:
  // One micro-kernel call: half h (16 filters) of `row` over the columns of channel chunk k.
  void call_tile(const float* base, int64_t row, int64_t h, int64_t k, int64_t q0, int64_t valid,
                 const float* init, float* acc) const {
    const int64_t j0 = seg_[static_cast<size_t>(row * (chunks_ + 1) + k)];
    const int64_t j1 = seg_[static_cast<size_t>(row * (chunks_ + 1) + k + 1)];
    ColTileArgs a;
    a.base = base + q0;
    a.off = off_.data() + j0;
    a.vals = r_.values.data() + j0 * r_.fb + h * sub_;
    a.vstride = r_.fb;
    a.ncols = j1 - j0;
    a.bias = bias_pad_.data() + row * r_.fb + h * sub_;
    a.init = init;
    a.acc = acc;
    a.valid = direct_ ? valid : T_;  // the padded copy has zeroed slack past its end
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
              for (int64_t xq = 0; xq < wq_; ++xq) {
                const int64_t ix = xq * sw + bo - s.pad_left;
                drow[xq] = (ix >= 0 && ix < s.w) ? srow[ix] : 0.0f;
              }
            }
          }
        }
      }
    });
    std::memset(dst + sh * sw * plane_, 0, static_cast<size_t>(T_ + 64) * sizeof(float));
  }

  KeptColumnRows r_;
  Epilogue ep_;
  std::string label_;
  Isa isa_;
  int sub_ = 1;
  ColTileFn tile_ = nullptr;
  int64_t T_ = 16;
  std::vector<float> bias_, bias_pad_;
  std::vector<int64_t> order_;
  std::vector<int64_t> off_;
  std::vector<uint8_t> phase_used_;
  std::vector<int64_t> seg_;  // per row, chunks + 1 column offsets
  int64_t chunks_ = 1, rows_per_group_ = 1, groups_ = 1;
  bool direct_ = false;
  int64_t hq_ = 0, wq_ = 0, plane_ = 0, span_ = 0, tiles_ = 0;
};

}  // namespace

int col_tile_width(int fb) { return fb <= 4 ? 64 : fb == 8 ? 32 : 16; }

ColTileFn col_tile_generic(int fb, int width) {
  if (fb == 1 && width == 128) return &generic_tile<1, 128>;
  if (width != col_tile_width(fb)) return nullptr;
  switch (fb) {
    case 1: return &generic_tile<1, 64>;
    case 2: return &generic_tile<2, 64>;
    case 4: return &generic_tile<4, 64>;
    case 8: return &generic_tile<8, 32>;
    case 16: return &generic_tile<16, 16>;
    default: return nullptr;
  }
}

bool block_size_supported(int bf, int bc) {
  return fb_supported(bf) && (bc == 1 || bc == 2 || bc == 4 || bc == 8 || bc == 16);
}

void BlockMask::validate() const {
  if (!block_size_supported(bf, bc))
    throw Error("block mask", "unsupported block " + std::to_string(bf) + "x" + std::to_string(bc) +
                                  " (bf in {1,2,4,8,16,32}, bc in {1,2,4,8,16})");
  if (f <= 0 || c <= 0 || kh <= 0 || kw <= 0) throw Error("block mask", "empty weight shape");
  if (static_cast<int64_t>(keep.size()) != units())
    throw Error("block mask", "keep has " + std::to_string(keep.size()) + " entries, expected " +
                                  std::to_string(units()));
}

std::vector<uint8_t> BlockMask::weight_keep() const {
  validate();
  const int64_t k = kh * kw, cb = col_blocks();
  std::vector<uint8_t> out(static_cast<size_t>(f * c * k));
  for (int64_t o = 0; o < f; ++o)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < k; ++p) {
        const int64_t rb = o / bf;
        const size_t u = static_cast<size_t>(per_column ? (rb * c + ch) * k + p : (rb * cb + ch / bc) * k + p);
        out[static_cast<size_t>((o * c + ch) * k + p)] = keep[u] ? 1 : 0;
      }
  return out;
}

int64_t KeptColumnRows::kept_weights() const {
  int64_t n = 0;
  for (int64_t r = 0; r < rows(); ++r)
    n += (row_begin[r + 1] - row_begin[r]) * std::min<int64_t>(fb, f - r * fb);
  return n;
}

int64_t KeptColumnRows::storage_bytes() const {
  return static_cast<int64_t>(values.size() * sizeof(float) + cols.size() * sizeof(int32_t));
}

KeptColumnRows pack_kept_columns(int64_t f, int64_t c, int64_t kh, int64_t kw, const float* w,
                                 const std::vector<uint8_t>& keep, int fb) {
  if (!fb_supported(fb)) throw Error("sparse rows", "unsupported row height " + std::to_string(fb));
  const int64_t k = c * kh * kw;
  if (static_cast<int64_t>(keep.size()) != f * k)
    throw Error("sparse rows", "keep has " + std::to_string(keep.size()) + " entries, expected " +
                                   std::to_string(f * k));
  if (!w) throw Error("sparse rows", "null weights");
  KeptColumnRows r;
  r.fb = fb, r.f = f, r.c = c, r.kh = kh, r.kw = kw;
  const int64_t nrows = ceil_div(f, fb);
  r.row_begin.push_back(0);
  for (int64_t row = 0; row < nrows; ++row) {
    const int64_t f0 = row * fb, nf = std::min<int64_t>(fb, f - f0);
    for (int64_t col = 0; col < k; ++col) {
      bool any = false;
      for (int64_t i = 0; i < nf && !any; ++i) any = keep[static_cast<size_t>((f0 + i) * k + col)] != 0;
      if (!any) continue;
      r.cols.push_back(static_cast<int32_t>(col));
      for (int64_t i = 0; i < fb; ++i) {
        const bool kept = i < nf && keep[static_cast<size_t>((f0 + i) * k + col)];
        r.values.push_back(kept ? w[(f0 + i) * k + col] : 0.0f);
      }
    }
    r.row_begin.push_back(static_cast<int64_t>(r.cols.size()));
  }
  return r;
}

std::unique_ptr<PreparedConv> prepare_kept_column_conv(const ConvShape& s, KeptColumnRows rows, const float* bias,
                                                       const Epilogue& ep, const std::string& label, Isa isa) {
  s.validate();
  const std::string where = label + " conv " + s.str();
  if (s.groups != 1) throw Error(where, "sparse kernels need groups == 1");
  if (!fb_supported(rows.fb)) throw Error(where, "unsupported row height " + std::to_string(rows.fb));
  if (rows.f != s.f || rows.c != s.c || rows.kh != s.kh || rows.kw != s.kw)
    throw Error(where, "packed rows are for another weight shape");
  if (rows.rows() != ceil_div(s.f, rows.fb) ||
      static_cast<int64_t>(rows.values.size()) != static_cast<int64_t>(rows.cols.size()) * rows.fb ||
      rows.row_begin.back() != static_cast<int64_t>(rows.cols.size()))
    throw Error(where, "inconsistent packed rows");
  for (int32_t col : rows.cols)
    if (col < 0 || col >= s.c * s.kh * s.kw) throw Error(where, "column index out of range");
  return std::make_unique<KeptColumnConv>(s, std::move(rows), bias, ep, label, isa);
}

std::unique_ptr<PreparedConv> prepare_block_sparse_conv(const ConvShape& s, const float* w, const float* bias,
                                                        const Epilogue& ep, const BlockMask& mask, Isa isa) {
  s.validate();
  const std::string where = "block sparse conv " + s.str();
  if (s.groups != 1) throw Error(where, "sparse kernels need groups == 1");
  if (!w) throw Error(where, "null weights");
  mask.validate();
  if (mask.f != s.f || mask.c != s.c || mask.kh != s.kh || mask.kw != s.kw)
    throw Error(where, "mask is for another weight shape");
  auto rows = pack_kept_columns(s.f, s.c, s.kh, s.kw, w, mask.weight_keep(), mask.bf);
  const std::string label = std::string(mask.per_column ? "block_col_" : "block_punched_") +
                            std::to_string(mask.bf) + "x" + std::to_string(mask.bc);
  return prepare_kept_column_conv(s, std::move(rows), bias, ep, label, isa);
}

int64_t kept_weights(const BlockMask& mask) {
  const auto keep = mask.weight_keep();
  return std::count(keep.begin(), keep.end(), uint8_t{1});
}

}  // namespace hilsim::kernels

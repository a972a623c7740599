#include "hilsim/kernels/dense_conv.h"

#include <algorithm>
#include <cstring>
#include <vector>
#include <string>

#include "hilsim/kernels/dense_tiling.h"
#include "hilsim/kernels/depthwise_conv.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

// A packed B panel [kc][NR] of 64 KiB at NR 32 sits in L1/L2; longer K blocks mean fewer C reloads.
constexpr int64_t kMaxKc = 512;
constexpr int64_t kMaxNr = 32;
// The implicit path's zero-padded input copy stays with the calling thread between runs (a fresh
// allocation page-faults on every run, as the sparse engine's phase copies did) up to this many floats
// (4 MiB: a 64-channel 80x80 or 32-channel 160x160 input); a larger one is freed when its run ends, so a
// thread that once ran a large layer does not hold that much memory for its lifetime.
constexpr size_t kKeepPaddedFloats = size_t{1} << 20;

int64_t pick_kc(int64_t k) {
  if (k <= kMaxKc) return k;
  const int64_t blocks = (k + kMaxKc - 1) / kMaxKc;
  return (k + blocks - 1) / blocks;
}

class GemmConv final : public PreparedConv {
 public:
  GemmConv(const ConvShape& s, const float* w, const float* bias, const Epilogue& ep, Isa isa)
      : PreparedConv(s), uk_(&gemm_ukernel(isa)), im2col_(im2col_fn(isa)), rows_(conv3x3_rows_fn(isa)), ep_(ep) {
    cg_ = s.c / s.groups;
    fg_ = s.f / s.groups;
    k_ = cg_ * s.kh * s.kw;
    kc_ = pick_kc(k_);
    // The cost model's features count lanes by kernels/dense_tiling; the tile must be the one it assumes.
    if (uk_->mr != kDenseTileRows || uk_->nr != kDenseTileCols)
      throw Error("isa", std::string(uk_->name) + ": register tile differs from kernels/dense_tiling's");
    const int64_t mr = uk_->mr;
    const DenseTiling tiling = dense_tiling(s);
    if (bias) bias_.assign(bias, bias + s.f);
    pixel_rows_ = tiling.pixel_rows;
    if (pixel_rows_) {
      // The weights as B: per group, 32-filter column panels [k][NR] (OIHW is [fg][k], so column j of B
      // is filter j's row).
      const int64_t nr = uk_->nr;
      ctiles_ = tiling.col_tiles;
      a_ = alloc_aligned_floats(static_cast<size_t>(s.groups * ctiles_ * k_ * nr));
      for (int64_t g = 0; g < s.groups; ++g)
        for (int64_t t = 0; t < ctiles_; ++t) {
          const int64_t j0 = t * nr, cols = std::min(nr, fg_ - j0);
          pack_b_panel(nr, cols, k_, w + (g * fg_ + j0) * k_, 1, k_, a_.get() + (g * ctiles_ + t) * k_ * nr);
        }
      return;
    }
    ftiles_ = tiling.row_tiles;
    row_strips_ = tiling.row_strips;
    strips_per_row_ = (s.out_w() + uk_->nr - 1) / uk_->nr;
    // OIHW per group is already row-major [fg][k]; pack each MR-row tile as [k][MR].
    a_ = alloc_aligned_floats(static_cast<size_t>(s.groups * ftiles_ * k_ * mr));
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t t = 0; t < ftiles_; ++t) {
        const int64_t f0 = t * mr, rows = std::min(mr, fg_ - f0);
        pack_a_panel(mr, rows, k_, w + (g * fg_ + f0) * k_, k_, 1, a_.get() + (g * ftiles_ + t) * k_ * mr);
      }
  }

  std::string kernel_name() const override { return dense_conv_kernel_name(shape_, uk_->isa); }
  int64_t weight_bytes() const override {
    return static_cast<int64_t>(sizeof(float)) * (shape_.weight_count() + static_cast<int64_t>(bias_.size()));
  }
  int64_t executed_macs() const override { return shape_.macs(); }

  void run(const float* in, float* out, ThreadPool& pool) const override {
    if (pixel_rows_) return run_pixel_rows(in, out, pool);
    const ConvShape& s = shape_;
    const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, mr = uk_->mr, nr = uk_->nr;
    const DenseTiling tiling = dense_tiling(s);
    const int64_t strips = tiling.col_tiles;
    const DenseSplit split = dense_split(s, tiling, pool.threads());
    const int64_t ncb = split.strip_block, fchunks = split.filter_chunks, items = split.items;
    const int64_t nblocks = (strips + ncb - 1) / ncb;
    const int64_t tiles_per_chunk = (ftiles_ + fchunks - 1) / fchunks;
    static thread_local std::vector<float> padded;
    const float* src = row_strips_ ? pad_input(in, pool, &padded) : in;
    const int64_t plane = row_strips_ ? (s.h + s.pad_top + s.pad_bottom) * (s.w + s.pad_left + s.pad_right) : s.h * s.w;

    pool.parallel_for(static_cast<size_t>(items), [&](size_t b0, size_t b1) {
      alignas(64) static thread_local float panel[kMaxKc * kMaxNr];
      for (size_t item = b0; item < b1; ++item) {
        int64_t rest = static_cast<int64_t>(item);
        const int64_t fc = rest % fchunks;
        rest /= fchunks;
        const int64_t blk = rest % nblocks;
        rest /= nblocks;
        const int64_t g = rest % s.groups, b = rest / s.groups;
        const float* in_g = src + (b * s.c + g * cg_) * plane;
        float* out_g = out + (b * s.f + g * fg_) * P;
        const int64_t t0 = fc * tiles_per_chunk, t1 = std::min(ftiles_, t0 + tiles_per_chunk);
        const int64_t st0 = blk * ncb, st1 = std::min(strips, st0 + ncb);
        if (row_strips_) {
          run_implicit(in_g, out_g, g, st0, st1, t0, t1);
          continue;
        }
        for (int64_t k0 = 0; k0 < k_; k0 += kc_) {
          const int64_t kc = std::min(kc_, k_ - k0);
          const bool first = k0 == 0, last = k0 + kc >= k_;
          for (int64_t st = st0; st < st1; ++st) {
            int64_t p0 = 0, cols = 0;
            strip(st, &p0, &cols);
            im2col_(s, in_g, p0, cols, k0, kc, panel, nr);
            for (int64_t t = t0; t < t1; ++t) {
              const int64_t f0 = t * mr, rows = std::min(mr, fg_ - f0);
              UkernelEpilogue ep;
              ep.bias_row = bias_.empty() ? nullptr : bias_.data() + g * fg_ + f0;
              ep.act = ep_;
              uk_->fn(static_cast<size_t>(rows), static_cast<size_t>(cols), static_cast<size_t>(kc),
                      a_.get() + ((g * ftiles_ + t) * k_ + k0) * mr, panel, out_g + f0 * P + p0,
                      static_cast<size_t>(P), !first, last, ep);
            }
          }
        }
      }
    });
    if (padded.capacity() > kKeepPaddedFloats) std::vector<float>().swap(padded);
  }

 private:
  // kernels/dense_tiling's pixel rows: per image and group, the input's im2col rows packed as A, the
  // tiles [8 pixels x 32 filters] into a [pixels][filters] buffer (bias and activation in the
  // micro-kernel), which is then transposed into the output planes. Work items (kernels::dense_split)
  // are chunks of filter tiles x chunks of pixel tiles; each packs the rows of A it needs.
  void run_pixel_rows(const float* in, float* out, ThreadPool& pool) const {
    const ConvShape& s = shape_;
    const int64_t P = s.out_h() * s.out_w(), mr = uk_->mr, nr = uk_->nr;
    const DenseTiling tiling = dense_tiling(s);
    const int64_t ptiles = tiling.row_tiles;
    const DenseSplit split = dense_split(s, tiling, pool.threads());
    const int64_t chunks = split.filter_chunks, pchunks = split.pixel_chunks;
    const int64_t per_chunk = (ctiles_ + chunks - 1) / chunks, per_pchunk = (ptiles + pchunks - 1) / pchunks;
    pool.parallel_for(static_cast<size_t>(split.items), [&](size_t b0, size_t b1) {
      static thread_local std::vector<float> apack, cbuf;
      for (size_t item = b0; item < b1; ++item) {
        int64_t rest = static_cast<int64_t>(item);
        const int64_t pc = rest % pchunks;
        rest /= pchunks;
        const int64_t chunk = rest % chunks, plane = rest / chunks;
        const int64_t g = plane % s.groups, b = plane / s.groups;
        const int64_t ct0 = chunk * per_chunk, ct1 = std::min(ctiles_, ct0 + per_chunk);
        const int64_t pt0 = pc * per_pchunk, pt1 = std::min(ptiles, pt0 + per_pchunk);
        if (ct0 >= ct1 || pt0 >= pt1) continue;
        const int64_t q0 = pt0 * mr, q1 = std::min(P, pt1 * mr);  // this item's pixels
        const float* in_g = in + (b * s.c + g * cg_) * s.h * s.w;
        float* out_g = out + (b * s.f + g * fg_) * P;
        apack.resize(static_cast<size_t>((pt1 - pt0) * k_ * mr));
        for (int64_t pt = pt0; pt < pt1; ++pt) {
          const int64_t p0 = pt * mr;
          im2col_(s, in_g, p0, std::min(mr, P - p0), 0, k_, apack.data() + (pt - pt0) * k_ * mr, mr);
        }
        const int64_t j0 = ct0 * nr, width = std::min(fg_, ct1 * nr) - j0;
        cbuf.resize(static_cast<size_t>((q1 - q0) * width));
        for (int64_t ct = ct0; ct < ct1; ++ct) {
          const int64_t jc = ct * nr, cols = std::min(nr, fg_ - jc);
          UkernelEpilogue ep;
          ep.bias_col = bias_.empty() ? nullptr : bias_.data() + g * fg_ + jc;
          ep.act = ep_;
          const float* bp = a_.get() + (g * ctiles_ + ct) * k_ * nr;
          for (int64_t k0 = 0; k0 < k_; k0 += kc_) {
            const int64_t kc = std::min(kc_, k_ - k0);
            for (int64_t pt = pt0; pt < pt1; ++pt) {
              const int64_t p0 = pt * mr;
              uk_->fn(static_cast<size_t>(std::min(mr, P - p0)), static_cast<size_t>(cols), static_cast<size_t>(kc),
                      apack.data() + ((pt - pt0) * k_ + k0) * mr, bp + k0 * nr, cbuf.data() + (p0 - q0) * width + (jc - j0),
                      static_cast<size_t>(width), k0 > 0, k0 + kc >= k_, ep);
            }
          }
        }
        // [pixels][filters] -> the filters' output planes, 16 filters at a time (16 write streams).
        for (int64_t j = 0; j < width; j += 16) {
          const int64_t jn = std::min<int64_t>(16, width - j);
          for (int64_t p = q0; p < q1; ++p) {
            const float* src = cbuf.data() + (p - q0) * width + j;
            float* dst = out_g + (j0 + j) * P + p;
            for (int64_t jj = 0; jj < jn; ++jj) dst[jj * P] = src[jj];
          }
        }
      }
    });
  }

  // Output pixels [p0, p0 + cols) of strip st (kernels/dense_tiling: flattened, or along output rows).
  void strip(int64_t st, int64_t* p0, int64_t* cols) const {
    const int64_t OW = shape_.out_w(), P = shape_.out_h() * OW, nr = uk_->nr;
    if (!row_strips_) {
      *p0 = st * nr, *cols = std::min(nr, P - *p0);
      return;
    }
    const int64_t oy = st / strips_per_row_, ox0 = (st % strips_per_row_) * nr;
    *p0 = oy * OW + ox0, *cols = std::min(nr, OW - ox0);
  }

  // The input with the conv's zero padding in place, for the implicit path (one copy per run into the
  // calling thread's buffer; the pool's items only read it).
  const float* pad_input(const float* in, ThreadPool& pool, std::vector<float>* padded) const {
    const ConvShape& s = shape_;
    const int64_t Hp = s.h + s.pad_top + s.pad_bottom, Wp = s.w + s.pad_left + s.pad_right;
    padded->resize(static_cast<size_t>(s.n * s.c * Hp * Wp));
    float* dst = padded->data();
    pool.parallel_for(static_cast<size_t>(s.n * s.c), [&](size_t p0, size_t p1) {
      for (size_t p = p0; p < p1; ++p) {
        const float* from = in + static_cast<int64_t>(p) * s.h * s.w;
        float* to = dst + static_cast<int64_t>(p) * Hp * Wp;
        std::fill(to, to + s.pad_top * Wp, 0.0f);
        for (int64_t y = 0; y < s.h; ++y) {
          float* r = to + (s.pad_top + y) * Wp;
          std::fill(r, r + s.pad_left, 0.0f);
          std::memcpy(r + s.pad_left, from + y * s.w, static_cast<size_t>(s.w) * sizeof(float));
          std::fill(r + s.pad_left + s.w, r + Wp, 0.0f);
        }
        std::fill(to + (s.pad_top + s.h) * Wp, to + Hp * Wp, 0.0f);
      }
    });
    return dst;
  }

  // Row strips [st0, st1) x filter tiles [t0, t1) of one image and group (in_g: its padded planes).
  void run_implicit(const float* in_g, float* out_g, int64_t g, int64_t st0, int64_t st1, int64_t t0,
                    int64_t t1) const {
    const ConvShape& s = shape_;
    const int64_t P = s.out_h() * s.out_w(), mr = uk_->mr;
    Conv3x3RowTile tile;
    tile.in = in_g, tile.c = cg_, tile.h = s.h + s.pad_top + s.pad_bottom, tile.w = s.w + s.pad_left + s.pad_right;
    tile.ldc = static_cast<size_t>(P);
    for (int64_t st = st0; st < st1; ++st) {
      int64_t p0 = 0, cols = 0;
      strip(st, &p0, &cols);
      tile.oy = st / strips_per_row_, tile.ox0 = p0 - tile.oy * s.out_w(), tile.nr = static_cast<size_t>(cols);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t f0 = t * mr;
        tile.mr = static_cast<size_t>(std::min(mr, fg_ - f0));
        tile.a = a_.get() + (g * ftiles_ + t) * k_ * mr;
        tile.out = out_g + f0 * P + p0;
        UkernelEpilogue ep;
        ep.bias_row = bias_.empty() ? nullptr : bias_.data() + g * fg_ + f0;
        ep.act = ep_;
        rows_(tile, ep);
      }
    }
  }

  const GemmUkernel* uk_;
  Im2colFn im2col_;
  Conv3x3RowsFn rows_;
  Epilogue ep_;
  bool row_strips_ = false, pixel_rows_ = false;
  int64_t strips_per_row_ = 1;
  int64_t cg_ = 0, fg_ = 0, k_ = 0, kc_ = 0, ftiles_ = 0, ctiles_ = 0;
  AlignedFloats a_;  // the packed weights: A panels [k][MR] per filter tile, or with pixel_rows_ B panels [k][NR]
  std::vector<float> bias_;
};

// Images as GEMM rows (NCHW with one pixel is [n][c]), the weights [f][c] as B transposed, bias per
// column, the output [n][f]: NCHW with one pixel again.
class GemmRowsConv final : public PreparedConv {
 public:
  GemmRowsConv(const ConvShape& s, const float* w, const float* bias, const Epilogue& ep, Isa isa)
      : PreparedConv(s), gemm_(s.f, s.c, w, s.c, true, bias, ep, isa), bias_values_(bias ? s.f : 0) {}

  void run(const float* in, float* out, ThreadPool& pool) const override {
    gemm_.run(shape_.n, in, shape_.c, false, out, shape_.f, pool);
  }
  std::string kernel_name() const override { return gemm_.kernel_name(); }
  int64_t weight_bytes() const override {
    return static_cast<int64_t>(sizeof(float)) * (shape_.weight_count() + bias_values_);
  }
  int64_t executed_macs() const override { return shape_.macs(); }

 private:
  PreparedGemm gemm_;
  int64_t bias_values_;
};

}  // namespace

std::string dense_conv_kernel_name(const ConvShape& s, Isa isa) {
  if (dense_conv_gemm_rows(s) > 0) {
    const GemmUkernel& g = gemm_ukernel(Isa::kGeneric);  // every ISA's tile is the generic one's
    return "gemm_f32_gemm_" + std::to_string(g.mr) + "x" + std::to_string(g.nr) + "_" + isa_name(isa);
  }
  // Every ISA's GEMM micro-kernel has the generic one's register tile; only the ISA differs. Row strips
  // run the implicit-GEMM tile on every ISA (same register tile, same class: dense_conv3x3).
  const GemmUkernel& g = gemm_ukernel(Isa::kGeneric);
  const bool implicit = dense_tiling(s).row_strips;
  return "dense_conv" + std::to_string(s.kh) + "x" + std::to_string(s.kw) + (implicit ? "_f32_igemm_" : "_f32_gemm_") +
         std::to_string(g.mr) + "x" + std::to_string(g.nr) + "_" + isa_name(isa);
}

std::unique_ptr<PreparedConv> prepare_dense_conv(const ConvShape& shape, const float* w, const float* bias,
                                                 const Epilogue& ep, Isa isa) {
  shape.validate();
  if (!w) throw Error("conv " + shape.str() + ": field 'weights'", "null pointer");
  if (shape.is_depthwise()) return prepare_depthwise_conv(shape, w, bias, ep, isa);
  if (gemm_ukernel(isa).nr > kMaxNr) throw Error("isa", "micro-kernel tile wider than the packing buffer");
  if (dense_conv_runs_as_gemm(shape)) return std::make_unique<GemmRowsConv>(shape, w, bias, ep, isa);
  return std::make_unique<GemmConv>(shape, w, bias, ep, isa);
}

}  // namespace hilsim::kernels

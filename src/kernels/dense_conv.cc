#include "hilsim/kernels/dense_conv.h"

#include <algorithm>
#include <cstring>
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
// Pixel rows: a weight block [kc][32] stays in L1 (32 KiB) while every pixel tile of the panel uses it.
constexpr int64_t kMaxKcPixelRows = 256;

int64_t pick_kc(int64_t k, int64_t max_kc) {
  if (k <= max_kc) return k;
  const int64_t blocks = (k + max_kc - 1) / max_kc;
  return (k + blocks - 1) / blocks;
}

// A thread's scratch, grown on demand and kept: allocating (and faulting in) a fresh panel per run
// cost as much as a small layer's arithmetic.
float* scratch(AlignedFloats& buf, size_t& cap, size_t n) {
  if (n > cap) {
    buf = alloc_aligned_floats(n);
    cap = n;
  }
  return buf.get();
}

class GemmConv final : public PreparedConv {
 public:
  GemmConv(const ConvShape& s, const float* w, const float* bias, const Epilogue& ep, Isa isa)
      : PreparedConv(s), uk_(&gemm_ukernel(isa)), im2col_(im2col_fn(isa)), ep_(ep), tiling_(dense_tiling(s)) {
    cg_ = s.c / s.groups;
    fg_ = s.f / s.groups;
    k_ = cg_ * s.kh * s.kw;
    if (bias) bias_.assign(bias, bias + s.f);
    if (uk_->mr != kDenseTileRows || uk_->nr != kDenseTileCols)
      throw Error("isa", std::string(uk_->name) + ": register tile differs from kernels/dense_tiling's");
    // Filter rows: the weights are the GEMM's A, 8-filter tiles; pixel rows: the transposed product's B,
    // 32-filter tiles. Either way each tile is packed [k][tile width] from OIHW, row-major [fg][k].
    kc_ = pick_kc(k_, tiling_.pixel_rows ? kMaxKcPixelRows : kMaxKc);
    ftiles_ = tiling_.pixel_rows ? tiling_.col_tiles : tiling_.row_tiles;
    const int64_t width = tiling_.pixel_rows ? uk_->nr : uk_->mr;
    a_ = alloc_aligned_floats(static_cast<size_t>(s.groups * ftiles_ * k_ * width));
    for (int64_t g = 0; g < s.groups; ++g)
      for (int64_t t = 0; t < ftiles_; ++t) {
        const int64_t f0 = t * width, rows = std::min(width, fg_ - f0);
        pack_a_panel(static_cast<size_t>(width), static_cast<size_t>(rows), static_cast<size_t>(k_),
                     w + (g * fg_ + f0) * k_, static_cast<size_t>(k_), 1, a_.get() + (g * ftiles_ + t) * k_ * width);
      }
  }

  std::string kernel_name() const override { return dense_conv_kernel_name(shape_, uk_->isa); }
  int64_t weight_bytes() const override {
    return static_cast<int64_t>(sizeof(float)) * (shape_.weight_count() + static_cast<int64_t>(bias_.size()));
  }
  int64_t executed_macs() const override { return shape_.macs(); }

  void run(const float* in, float* out, ThreadPool& pool) const override {
    if (tiling_.pixel_rows) return run_pixel_rows(in, out, pool);
    const ConvShape& s = shape_;
    const int64_t OH = s.out_h(), OW = s.out_w(), P = OH * OW, mr = uk_->mr, nr = uk_->nr;
    const int64_t strips = (P + nr - 1) / nr;
    const int64_t threads = pool.threads();
    // Work items: blocks of strips (their outputs stay in L2 across K blocks) x chunks of F tiles. Small
    // images split F too so every thread gets work (at the price of packing the same strip twice).
    int64_t ncb = threads == 1 ? 8 : std::clamp<int64_t>(strips / (4 * threads), 1, 8);
    const int64_t nblocks = (strips + ncb - 1) / ncb;
    int64_t fchunks = 1;
    const int64_t base = s.n * s.groups * nblocks;
    while (threads > 1 && base * fchunks < 4 * threads && ftiles_ / (fchunks * 2) >= 2) fchunks *= 2;
    const int64_t tiles_per_chunk = (ftiles_ + fchunks - 1) / fchunks;
    const int64_t items = base * fchunks;

    pool.parallel_for(static_cast<size_t>(items), [&](size_t b0, size_t b1) {
      alignas(64) static thread_local float panel[kMaxKc * kMaxNr];
      for (size_t item = b0; item < b1; ++item) {
        int64_t rest = static_cast<int64_t>(item);
        const int64_t fc = rest % fchunks;
        rest /= fchunks;
        const int64_t blk = rest % nblocks;
        rest /= nblocks;
        const int64_t g = rest % s.groups, b = rest / s.groups;
        const float* in_g = in + (b * s.c + g * cg_) * s.h * s.w;
        float* out_g = out + (b * s.f + g * fg_) * P;
        const int64_t t0 = fc * tiles_per_chunk, t1 = std::min(ftiles_, t0 + tiles_per_chunk);
        const int64_t st0 = blk * ncb, st1 = std::min(strips, st0 + ncb);
        for (int64_t k0 = 0; k0 < k_; k0 += kc_) {
          const int64_t kc = std::min(kc_, k_ - k0);
          const bool first = k0 == 0, last = k0 + kc >= k_;
          for (int64_t st = st0; st < st1; ++st) {
            const int64_t p0 = st * nr, cols = std::min(nr, P - p0);
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
  }

 private:
  // C^T[pixels x filters] = panel[pixels x K] * W^T: the im2col panel of every pixel (packed as 8-pixel
  // A tiles) is built once, then each work item (one 32-filter tile x a range of pixel tiles) sweeps
  // K blocks with that weight block in L1, accumulating its tiles in a scratch C^T that the last K block
  // finishes (bias per column, activation) and that is then stored transposed into the NCHW output.
  void run_pixel_rows(const float* in, float* out, ThreadPool& pool) const {
    const ConvShape& s = shape_;
    const int64_t P = s.out_h() * s.out_w(), mr = uk_->mr, nr = uk_->nr;
    const int64_t ptiles = tiling_.row_tiles, threads = pool.threads();
    // Enough items for every thread: split the pixel tiles when there are few filter tiles.
    int64_t pchunks = 1;
    while (threads > 1 && ftiles_ * pchunks < 2 * threads && pchunks * 2 <= ptiles) pchunks *= 2;
    const int64_t tiles_per_chunk = (ptiles + pchunks - 1) / pchunks;
    static thread_local AlignedFloats panel_buf;
    static thread_local size_t panel_cap = 0;
    float* panel = scratch(panel_buf, panel_cap, static_cast<size_t>(ptiles * k_ * mr));
    for (int64_t b = 0; b < s.n; ++b)
      for (int64_t g = 0; g < s.groups; ++g) {
        const float* in_g = in + (b * s.c + g * cg_) * s.h * s.w;
        float* out_g = out + (b * s.f + g * fg_) * P;
        pool.parallel_for(static_cast<size_t>(ptiles), [&](size_t t0, size_t t1) {
          for (size_t t = t0; t < t1; ++t) {
            const int64_t p0 = static_cast<int64_t>(t) * mr;
            im2col_(s, in_g, p0, std::min(mr, P - p0), 0, k_, panel + static_cast<int64_t>(t) * k_ * mr, mr);
          }
        });
        pool.parallel_for(static_cast<size_t>(ftiles_ * pchunks), [&](size_t i0, size_t i1) {
          static thread_local AlignedFloats ct_buf;
          static thread_local size_t ct_cap = 0;
          float* ct = scratch(ct_buf, ct_cap, static_cast<size_t>(tiles_per_chunk * mr * nr));
          for (size_t item = i0; item < i1; ++item) {
            const int64_t ft = static_cast<int64_t>(item) / pchunks, pc = static_cast<int64_t>(item) % pchunks;
            const int64_t pt0 = pc * tiles_per_chunk, pt1 = std::min(ptiles, pt0 + tiles_per_chunk);
            if (pt0 >= pt1) continue;
            const int64_t f0 = ft * nr, cols = std::min(nr, fg_ - f0);
            UkernelEpilogue ep;
            ep.bias_col = bias_.empty() ? nullptr : bias_.data() + g * fg_ + f0;
            ep.act = ep_;
            const float* wt = a_.get() + (g * ftiles_ + ft) * k_ * nr;
            for (int64_t k0 = 0; k0 < k_; k0 += kc_) {
              const int64_t kc = std::min(kc_, k_ - k0);
              for (int64_t pt = pt0; pt < pt1; ++pt) {
                const int64_t rows = std::min(mr, P - pt * mr);
                uk_->fn(static_cast<size_t>(rows), static_cast<size_t>(cols), static_cast<size_t>(kc),
                        panel + (pt * k_ + k0) * mr, wt + k0 * nr, ct + (pt - pt0) * mr * nr, static_cast<size_t>(nr),
                        k0 > 0, k0 + kc >= k_, ep);
              }
            }
            const int64_t q0 = pt0 * mr, q1 = std::min(P, pt1 * mr);
            for (int64_t j = 0; j < cols; ++j) {
              float* o = out_g + (f0 + j) * P;
              for (int64_t q = q0; q < q1; ++q) o[q] = ct[(q - q0) * nr + j];
            }
          }
        });
      }
  }

  const GemmUkernel* uk_;
  Im2colFn im2col_;
  Epilogue ep_;
  DenseTiling tiling_;
  int64_t cg_ = 0, fg_ = 0, k_ = 0, kc_ = 0, ftiles_ = 0;  // ftiles_: the weights' tiles, rows or columns
  AlignedFloats a_;
  std::vector<float> bias_;
};

}  // namespace

std::string dense_conv_kernel_name(const ConvShape& s, Isa isa) {
  // Every ISA's GEMM micro-kernel has the generic one's register tile; only the ISA differs.
  const GemmUkernel& g = gemm_ukernel(Isa::kGeneric);
  return "dense_conv" + std::to_string(s.kh) + "x" + std::to_string(s.kw) + "_f32_gemm_" + std::to_string(g.mr) + "x" +
         std::to_string(g.nr) + "_" + isa_name(isa);
}

std::unique_ptr<PreparedConv> prepare_dense_conv(const ConvShape& shape, const float* w, const float* bias,
                                                 const Epilogue& ep, Isa isa) {
  shape.validate();
  if (!w) throw Error("conv " + shape.str() + ": field 'weights'", "null pointer");
  if (shape.is_depthwise()) return prepare_depthwise_conv(shape, w, bias, ep, isa);
  if (gemm_ukernel(isa).nr > kMaxNr) throw Error("isa", "micro-kernel tile wider than the packing buffer");
  return std::make_unique<GemmConv>(shape, w, bias, ep, isa);
}

}  // namespace hilsim::kernels

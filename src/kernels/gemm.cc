#include "hilsim/kernels/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {
// kc keeps a packed B panel ([kc][32] floats = 32 KiB at 256) in L1 while A streams from L2.
constexpr int64_t kMaxKc = 256;

int64_t pick_kc(int64_t k) {
  if (k <= kMaxKc) return std::max<int64_t>(k, 1);
  const int64_t blocks = (k + kMaxKc - 1) / kMaxKc;
  return (k + blocks - 1) / blocks;  // equal blocks: no short tail block
}
}  // namespace

void AlignedFree::operator()(float* p) const { std::free(p); }

AlignedFloats alloc_aligned_floats(size_t n) {
  size_t bytes = ((std::max<size_t>(n, 1) * sizeof(float) + 63) / 64) * 64;
  auto* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return AlignedFloats(p);
}

const GemmUkernel& gemm_ukernel(Isa isa) {
  static const GemmUkernel generic{8, 32, &f32_gemm_8x32_generic, "f32_gemm_8x32_generic", Isa::kGeneric};
#if defined(__x86_64__)
  static const GemmUkernel avx2{8, 32, &f32_gemm_8x32_avx2, "f32_gemm_8x32_avx2", Isa::kAvx2};
  static const GemmUkernel avx512{8, 32, &f32_gemm_8x32_avx512, "f32_gemm_8x32_avx512", Isa::kAvx512};
#endif
  if (!isa_supported(isa)) throw Error("isa", std::string("this CPU cannot run the ") + isa_name(isa) + " path");
#if defined(__x86_64__)
  if (isa == Isa::kAvx512) return avx512;
  if (isa == Isa::kAvx2) return avx2;
#endif
  return generic;
}

void pack_a_panel(size_t mr_tile, size_t rows, size_t kc, const float* a, size_t rs, size_t cs, float* dst) {
  for (size_t k = 0; k < kc; ++k) {
    for (size_t i = 0; i < rows; ++i) dst[i] = a[i * rs + k * cs];
    for (size_t i = rows; i < mr_tile; ++i) dst[i] = 0.0f;
    dst += mr_tile;
  }
}

void pack_b_panel(size_t nr_tile, size_t cols, size_t kc, const float* b, size_t rs, size_t cs, float* dst) {
  for (size_t k = 0; k < kc; ++k) {
    const float* src = b + k * rs;
    if (cs == 1) {
      std::memcpy(dst, src, cols * sizeof(float));
    } else {
      for (size_t j = 0; j < cols; ++j) dst[j] = src[j * cs];
    }
    for (size_t j = cols; j < nr_tile; ++j) dst[j] = 0.0f;
    dst += nr_tile;
  }
}

Im2colFn im2col_fn(Isa isa) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512 && isa_supported(isa)) return &f32_im2col_avx512;
  if (isa == Isa::kAvx2 && isa_supported(isa)) return &f32_im2col_avx2;
#endif
  (void)isa;
  return &f32_im2col_generic;
}

Conv3x3RowsFn conv3x3_rows_fn(Isa isa) {
  if (!isa_supported(isa)) throw Error("isa", std::string("this CPU cannot run the ") + isa_name(isa) + " path");
#if defined(__x86_64__)
  if (isa == Isa::kAvx512) return &f32_conv3x3_rows_8x32_avx512;
  if (isa == Isa::kAvx2) return &f32_conv3x3_rows_8x32_avx2;
#endif
  return &f32_conv3x3_rows_8x32_generic;
}

void apply_act_inplace(Isa isa, const Epilogue& e, float* x, int64_t n) {
#if defined(__x86_64__)
  if (isa == Isa::kAvx512 && isa_supported(isa)) return f32_act_avx512(e, x, n);
  if (isa == Isa::kAvx2 && isa_supported(isa)) return f32_act_avx2(e, x, n);
#endif
  f32_act_generic(e, x, n);
}

PreparedGemm::PreparedGemm(int64_t n, int64_t k, const float* b, int64_t ldb, bool trans_b, const float* bias,
                           const Epilogue& ep, Isa isa)
    : uk_(&gemm_ukernel(isa)), n_(n), k_(k), kc_(pick_kc(k)), ep_(ep) {
  if (n < 1) throw Error("gemm: field 'n'", "must be >= 1");
  if (k < 1) throw Error("gemm: field 'k'", "must be >= 1");
  if (ldb < (trans_b ? k : n)) throw Error("gemm: field 'ldb'", "smaller than the row length of B");
  const int64_t nr = uk_->nr, tiles = (n + nr - 1) / nr;
  b_packed_ = alloc_aligned_floats(static_cast<size_t>(tiles * k * nr));
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t j0 = t * nr, cols = std::min(nr, n - j0);
    const float* src = trans_b ? b + j0 * ldb : b + j0;
    pack_b_panel(nr, cols, k, src, trans_b ? 1 : ldb, trans_b ? ldb : 1, b_packed_.get() + t * k * nr);
  }
  bias_.assign(static_cast<size_t>(tiles * nr), 0.0f);
  if (bias) std::copy(bias, bias + n, bias_.begin());
}

std::string PreparedGemm::kernel_name() const { return std::string("gemm_") + uk_->name; }

void PreparedGemm::run(int64_t m, const float* a, int64_t lda, bool trans_a, float* c, int64_t ldc,
                       ThreadPool& pool) const {
  if (m < 1) throw Error("gemm: field 'm'", "must be >= 1");
  if (ldc < n_) throw Error("gemm: field 'ldc'", "smaller than n");
  const int64_t mr = uk_->mr, nr = uk_->nr;
  const int64_t mtiles = (m + mr - 1) / mr, ntiles = (n_ + nr - 1) / nr;
  // A is small for FC layers (batch rows); pack it once for all N tiles.
  AlignedFloats a_packed = alloc_aligned_floats(static_cast<size_t>(mtiles * k_ * mr));
  pool.parallel_for(static_cast<size_t>(mtiles), [&](size_t b0, size_t b1) {
    for (size_t t = b0; t < b1; ++t) {
      const int64_t i0 = static_cast<int64_t>(t) * mr, rows = std::min(mr, m - i0);
      const float* src = trans_a ? a + i0 : a + i0 * lda;
      pack_a_panel(mr, rows, k_, src, trans_a ? 1 : lda, trans_a ? lda : 1, a_packed.get() + t * k_ * mr);
    }
  });
  pool.parallel_for(static_cast<size_t>(mtiles * ntiles), [&](size_t b0, size_t b1) {
    for (size_t item = b0; item < b1; ++item) {
      const int64_t tm = static_cast<int64_t>(item) % mtiles, tn = static_cast<int64_t>(item) / mtiles;
      const int64_t i0 = tm * mr, j0 = tn * nr;
      const size_t rows = static_cast<size_t>(std::min(mr, m - i0)), cols = static_cast<size_t>(std::min(nr, n_ - j0));
      UkernelEpilogue ep;
      ep.bias_col = bias_.data() + j0;
      ep.act = ep_;
      for (int64_t k0 = 0; k0 < k_; k0 += kc_) {
        const int64_t kc = std::min(kc_, k_ - k0);
        uk_->fn(rows, cols, static_cast<size_t>(kc), a_packed.get() + tm * k_ * mr + k0 * mr,
                b_packed_.get() + tn * k_ * nr + k0 * nr, c + i0 * ldc + j0, static_cast<size_t>(ldc), k0 > 0,
                k0 + kc >= k_, ep);
      }
    }
  });
}

void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a, const float* b, int64_t ldb,
          bool trans_b, float* c, int64_t ldc, const float* bias, const Epilogue& ep, ThreadPool& pool, Isa isa) {
  PreparedGemm g(n, k, b, ldb, trans_b, bias, ep, isa);
  g.run(m, a, lda, trans_a, c, ldc, pool);
}

}  // namespace hilsim::kernels

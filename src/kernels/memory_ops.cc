#include "hilsim/kernels/memory_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "hilsim/kernels/cpu_features.h"
#include "hilsim/kernels/gemm.h"
#include "hilsim/kernels/math_ops.h"
#include "hilsim/util/error.h"

namespace hilsim::kernels {

namespace {

// Chunk of floats per work item for flat loops: big enough to amortise the hand-out, small enough to
// balance two cores.
constexpr size_t kFlatGrain = 16384;
// Floats of padded planes per stack of the separable pooling passes.
constexpr int64_t kPoolStackFloats = 4096;
// A thread's three pass buffers stay with it between pools (a fresh allocation page-faults on every
// run) up to this many floats each (4 MiB: a 1024x1024 plane), as dense_conv's padded copy does; a
// larger frame is freed when its pool ends, so a thread that once pooled a huge plane does not hold it.
constexpr size_t kKeepPoolFloats = size_t{1} << 20;

// Separable pooling over a stack of planes: each plane is copied into a padded [ph x pw] frame (pw a
// multiple of the stride), then one horizontal pass per tap runs over the whole stack as one flat
// array (a row's tail mixes in the next row, in columns no output reads), then one vertical pass per
// tap likewise over every row (stride-h rows picked afterwards), and each output row is copied out.
// O(kh + kw) per output, and the loops the passes start are per stack, not per row: a plane-at-a-time
// version started ~90 loops of 7 values a plane for YOLO's 5x5 pools on 7x7 maps (0.45 us a plane,
// AMD EPYC), and ResNet's 3x3 stride-2 pool ran at ~1.5 ns an output.
struct PoolFrame {
  int64_t ph = 0, pw = 0;  // padded plane; pw a multiple of stride_w
  int64_t tw = 0;          // row width after the horizontal pass: pw / stride_w
  int64_t planes = 0;      // planes per stack
  int64_t stacks = 0;
};

PoolFrame pool_frame(const Pool2dShape& s) {
  PoolFrame f;
  f.ph = std::max(s.h + s.pad_top + s.pad_bottom, (s.out_h - 1) * s.stride_h + s.kh);
  const int64_t pw = std::max(s.w + s.pad_left + s.pad_right, (s.out_w - 1) * s.stride_w + s.kw);
  f.pw = (pw + s.stride_w - 1) / s.stride_w * s.stride_w;
  f.tw = f.pw / s.stride_w;
  const int64_t total = s.n * s.c;
  // Stacks of ~16 KiB frames (they and the two pass buffers stay in L1/L2), at least 8 of them where
  // there are planes enough, so that two threads share the work.
  f.planes = std::clamp<int64_t>(kPoolStackFloats / (f.ph * f.pw), 1, std::max<int64_t>(1, (total + 7) / 8));
  f.stacks = (total + f.planes - 1) / f.planes;
  return f;
}

template <bool kMax>
void pool_planes(const Pool2dShape& s, const float* in, float* out, ThreadPool& pool) {  // s validated by pool2d
  const float fill = kMax ? -std::numeric_limits<float>::infinity() : 0.0f;
  const PoolFrame f = pool_frame(s);
  const int64_t total = s.n * s.c, sw = s.stride_w, sh = s.stride_h;
  // Averaging divisor per output row / column: the window clipped to the input (or to input + pads).
  std::vector<float> cnt_y(static_cast<size_t>(s.out_h)), cnt_x(static_cast<size_t>(s.out_w));
  auto clipped = [&](int64_t o, int64_t st, int64_t pb, int64_t k, int64_t size, int64_t pe) {
    const int64_t lo = o * st - pb, hi = lo + k;
    const int64_t a = s.count_include_pad ? -pb : 0, b = s.count_include_pad ? size + pe : size;
    return static_cast<float>(std::max<int64_t>(0, std::min(hi, b) - std::max(lo, a)));
  };
  for (int64_t y = 0; y < s.out_h; ++y) cnt_y[y] = clipped(y, s.stride_h, s.pad_top, s.kh, s.h, s.pad_bottom);
  for (int64_t x = 0; x < s.out_w; ++x) cnt_x[x] = clipped(x, s.stride_w, s.pad_left, s.kw, s.w, s.pad_right);
  pool.parallel_for(static_cast<size_t>(f.stacks), [&](size_t b0, size_t b1) {
    static thread_local std::vector<float> pad, hor, ver;
    const size_t frame = static_cast<size_t>(f.planes * f.ph * f.pw), rows = static_cast<size_t>(f.planes * f.ph);
    pad.resize(frame), hor.resize(rows * f.tw), ver.resize(rows * f.tw);
    for (size_t stack = b0; stack < b1; ++stack) {
      const int64_t p0 = static_cast<int64_t>(stack) * f.planes, np = std::min(f.planes, total - p0);
      for (int64_t p = 0; p < np; ++p) {
        const float* src = in + (p0 + p) * s.h * s.w;
        float* plane = pad.data() + p * f.ph * f.pw;
        std::fill(plane, plane + s.pad_top * f.pw, fill);
        for (int64_t y = 0; y < s.h; ++y) {
          float* to = plane + (s.pad_top + y) * f.pw;
          std::fill(to, to + s.pad_left, fill);
          std::memcpy(to + s.pad_left, src + y * s.w, static_cast<size_t>(s.w) * sizeof(float));
          std::fill(to + s.pad_left + s.w, to + f.pw, fill);
        }
        std::fill(plane + (s.pad_top + s.h) * f.pw, plane + f.ph * f.pw, fill);
      }
      // Horizontal: hor[i] = op over kx of pad[i * sw + kx], over the stack's rows as one array.
      const int64_t hn = (np * f.ph * f.pw - s.kw) / sw + 1;  // every i whose taps lie in the stack
      const float* r = pad.data();
      float* t = hor.data();
      if (s.kw == 3 && sw == 2) {
        // ResNet's and SqueezeNet's 3x3 stride-2 windows: the three taps in one loop (a loop per tap,
        // each gathering at stride 2, ran slower). The same order of compares and sums.
        for (int64_t i = 0; i < hn; ++i) {
          const float a = r[2 * i], b = r[2 * i + 1], c = r[2 * i + 2];
          t[i] = kMax ? std::max(std::max(a, b), c) : (a + b) + c;
        }
      } else {
        for (int64_t i = 0; i < hn; ++i) t[i] = r[i * sw];
        for (int64_t kx = 1; kx < s.kw; ++kx) {
          const float* rk = r + kx;
          if (sw == 1) {  // unit stride, which the compiler vectorises
            for (int64_t i = 0; i < hn; ++i) t[i] = kMax ? (t[i] < rk[i] ? rk[i] : t[i]) : t[i] + rk[i];
            continue;
          }
          for (int64_t i = 0; i < hn; ++i) {
            const float v = rk[i * sw];
            t[i] = kMax ? (t[i] < v ? v : t[i]) : t[i] + v;
          }
        }
      }
      // Vertical: at stride 1 one loop per tap over every row of the stack (output rows picked below);
      // strided, per output row (a flat pass would compute sh times the rows).
      auto finish_row = [&](float* o, int64_t oy) {
        if (kMax) return;
        const float cy = cnt_y[oy];
        for (int64_t x = 0; x < s.out_w; ++x) {
          const float cnt = cy * cnt_x[x];
          o[x] = cnt > 0.0f ? o[x] / cnt : 0.0f;
        }
      };
      if (sh == 1) {
        const int64_t vn = np * f.ph * f.tw - (s.kh - 1) * f.tw;
        float* v = ver.data();
        std::memcpy(v, t, static_cast<size_t>(vn) * sizeof(float));
        for (int64_t ky = 1; ky < s.kh; ++ky) {
          const float* tk = t + ky * f.tw;
          for (int64_t j = 0; j < vn; ++j) v[j] = kMax ? (v[j] < tk[j] ? tk[j] : v[j]) : v[j] + tk[j];
        }
        for (int64_t p = 0; p < np; ++p) {
          float* dst = out + (p0 + p) * s.out_h * s.out_w;
          for (int64_t oy = 0; oy < s.out_h; ++oy) {
            float* o = dst + oy * s.out_w;
            std::memcpy(o, v + (p * f.ph + oy) * f.tw, static_cast<size_t>(s.out_w) * sizeof(float));
            finish_row(o, oy);
          }
        }
        continue;
      }
      for (int64_t p = 0; p < np; ++p) {
        float* dst = out + (p0 + p) * s.out_h * s.out_w;
        for (int64_t oy = 0; oy < s.out_h; ++oy) {
          const float* t0 = t + (p * f.ph + oy * sh) * f.tw;
          float* o = dst + oy * s.out_w;
          if (s.kh == 3) {  // the three taps in one loop, in the same order
            const float *t1 = t0 + f.tw, *t2 = t1 + f.tw;
            for (int64_t x = 0; x < s.out_w; ++x)
              o[x] = kMax ? std::max(std::max(t0[x], t1[x]), t2[x]) : (t0[x] + t1[x]) + t2[x];
          } else {
            std::memcpy(o, t0, static_cast<size_t>(s.out_w) * sizeof(float));
            for (int64_t ky = 1; ky < s.kh; ++ky) {
              const float* tk = t0 + ky * f.tw;
              for (int64_t x = 0; x < s.out_w; ++x) o[x] = kMax ? (o[x] < tk[x] ? tk[x] : o[x]) : o[x] + tk[x];
            }
          }
          finish_row(o, oy);
        }
      }
    }
    if (pad.capacity() > kKeepPoolFloats || hor.capacity() > kKeepPoolFloats || ver.capacity() > kKeepPoolFloats)
      std::vector<float>().swap(pad), std::vector<float>().swap(hor), std::vector<float>().swap(ver);
  });
}

// 2x2 windows at stride 2 inside the input (DenseNet's transitions, VGG's and YOLO's downsampling):
// each output row reads its two input rows in place. The separable path spends ~20 loop starts and a
// padded copy on every plane, ~90 ns, which made a 1056 x 6 x 6 average pool take 0.1 ms (AMD EPYC).
// The same compares and sums, in the same order, as the separable path.
bool is_pool_2x2s2(const Pool2dShape& s) {
  return s.kh == 2 && s.kw == 2 && s.stride_h == 2 && s.stride_w == 2 && !s.pad_top && !s.pad_left && !s.pad_bottom &&
         !s.pad_right && 2 * s.out_h <= s.h && 2 * s.out_w <= s.w;
}

template <bool kMax>
void pool_2x2s2(const Pool2dShape& s, const float* in, float* out, ThreadPool& pool) {
  const int64_t OH = s.out_h, OW = s.out_w, H = s.h, W = s.w;
  pool.parallel_for(static_cast<size_t>(s.n * s.c * OH), [&](size_t b0, size_t b1) {
    for (size_t r = b0; r < b1; ++r) {
      const int64_t plane = static_cast<int64_t>(r) / OH, oy = static_cast<int64_t>(r) % OH;
      const float* r0 = in + plane * H * W + 2 * oy * W;
      const float* r1 = r0 + W;
      float* o = out + plane * OH * OW + oy * OW;
      for (int64_t x = 0; x < OW; ++x) {
        float t0 = r0[2 * x], t1 = r1[2 * x];
        const float u0 = r0[2 * x + 1], u1 = r1[2 * x + 1];
        if constexpr (kMax) {
          t0 = t0 < u0 ? u0 : t0;
          t1 = t1 < u1 ? u1 : t1;
          o[x] = t0 < t1 ? t1 : t0;
        } else {
          o[x] = ((t0 + u0) + (t1 + u1)) / 4.0f;
        }
      }
    }
  }, 16);
}

template <bool kMax>
void pool2d(const Pool2dShape& s, const float* in, float* out, ThreadPool& pool) {
  s.validate();
  if (is_pool_2x2s2(s)) return pool_2x2s2<kMax>(s, in, out, pool);
  pool_planes<kMax>(s, in, out, pool);
}

}  // namespace

void Pool2dShape::validate() const {
  auto bad = [](const char* field, const char* why) { throw Error(std::string("pool2d: field '") + field + "'", why); };
  if (n < 1 || c < 1 || h < 1 || w < 1) bad("n/c/h/w", "must be >= 1");
  if (kh < 1 || kw < 1) bad("kernel", "must be >= 1");
  if (stride_h < 1 || stride_w < 1) bad("stride", "must be >= 1");
  if (pad_top < 0 || pad_left < 0 || pad_bottom < 0 || pad_right < 0) bad("pads", "must be >= 0");
  if (out_h < 1 || out_w < 1) bad("out_h/out_w", "must be >= 1");
  if ((out_h - 1) * stride_h - pad_top >= h || (out_w - 1) * stride_w - pad_left >= w)
    bad("out_h/out_w", "the last window starts past the input");
}

PoolWork pool2d_work(const Pool2dShape& s) {
  if (is_pool_2x2s2(s)) {  // one loop an output row, four strided reads an output
    PoolWork w;
    w.ops = w.strided_ops = s.n * s.c * s.out_h * s.out_w * 4;
    w.rows = s.n * s.c * s.out_h;
    return w;
  }
  const PoolFrame f = pool_frame(s);
  const int64_t planes = s.n * s.c;
  PoolWork w;
  const int64_t horizontal = planes * f.ph * f.tw * s.kw;
  const bool flat_vertical = s.stride_h == 1;
  w.ops = horizontal + (flat_vertical ? planes * f.ph * f.tw : planes * s.out_h * s.out_w) * s.kh;
  if (s.stride_w > 1) w.strided_ops = horizontal;
  // Loops started: a copy per input row; per stack a loop per horizontal tap (one for 3x3 stride 2);
  // vertically, per stack a loop per tap and a copy per output row, or strided, per output row a loop
  // per tap (one for three taps).
  w.rows = planes * s.h + f.stacks * (s.kw == 3 && s.stride_w == 2 ? 1 : s.kw) +
           (flat_vertical ? f.stacks * s.kh + planes * s.out_h : planes * s.out_h * (s.kh == 3 ? 1 : s.kh));
  return w;
}

void max_pool2d(const Pool2dShape& s, const float* in, float* out, ThreadPool& pool) { pool2d<true>(s, in, out, pool); }
void avg_pool2d(const Pool2dShape& s, const float* in, float* out, ThreadPool& pool) { pool2d<false>(s, in, out, pool); }

void global_avg_pool(int64_t n, int64_t c, int64_t hw, const float* in, float* out, ThreadPool& pool) {
  if (n < 1 || c < 1 || hw < 1) throw Error("global_avg_pool: field 'n/c/hw'", "must be >= 1");
  pool.parallel_for(static_cast<size_t>(n * c), [&](size_t b0, size_t b1) {
    for (size_t p = b0; p < b1; ++p) {
      out[p] = sum_floats(in + p * static_cast<size_t>(hw), hw) / static_cast<float>(hw);
    }
  }, 16);
}

std::vector<int64_t> broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error("broadcast: dim " + std::to_string(i), "sizes " + std::to_string(da) + " and " + std::to_string(db) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {
// fmod without libm's per-element call: x - trunc(x / y) * y in double is exact while |x / y| < 2^29
// (the product fits 53 bits, and a float quotient is never within double rounding of an integer
// unless it is one). A run where some lane falls outside that (or y == 0, inf, nan) redoes itself with
// std::fmod, so the common case vectorises.
// One vector-width pass per case, compiled for AVX-512 and AVX2 too (SSE2 has no truncating round).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HILSIM_MEMORY_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HILSIM_MEMORY_CLONES
#endif

#define HILSIM_FMOD_LOOP(IA, IB)                                    \
  for (int64_t i = 0; i < n; ++i) {                                 \
    const double x = a[IA], y = b[IB];                              \
    const double q = std::trunc(x / y);                             \
    slow |= !(std::fabs(q) < 536870912.0);                          \
    o[i] = static_cast<float>(x - q * y);                           \
  }

HILSIM_MEMORY_CLONES void fmod_run(const float* __restrict a, int64_t sa, const float* __restrict b, int64_t sb,
                                   float* __restrict o, int64_t n) {
  bool slow = false;
  if (sa == 1 && sb == 1) HILSIM_FMOD_LOOP(i, i)
  else if (sa == 1) HILSIM_FMOD_LOOP(i, 0)
  else if (sb == 1) HILSIM_FMOD_LOOP(0, i)
  else HILSIM_FMOD_LOOP(0, 0)
  if (slow)
    for (int64_t i = 0; i < n; ++i) o[i] = std::fmod(a[i * sa], b[i * sb]);
}
#undef HILSIM_FMOD_LOOP

template <BinaryOp kOp>
inline void binary_run(const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t n) {
  if constexpr (kOp == BinaryOp::kFmod) {
    return fmod_run(a, sa, b, sb, o, n);
  }
  // Branch on the strides outside the loop so each case is a plain vectorisable loop.
  auto f = [](float x, float y) {
    if constexpr (kOp == BinaryOp::kAdd) return x + y;
    else if constexpr (kOp == BinaryOp::kMul) return x * y;
    else if constexpr (kOp == BinaryOp::kSub) return x - y;
    else if constexpr (kOp == BinaryOp::kDiv) return x / y;
    else if constexpr (kOp == BinaryOp::kMax) return std::max(x, y);
    else if constexpr (kOp == BinaryOp::kMin) return std::min(x, y);
    else return std::fmod(x, y);
  };
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (sa == 1) {
    const float y = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], y);
  } else if (sb == 1) {
    const float x = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(x, b[i]);
  } else {
    const float v = f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

template <BinaryOp kOp>
void binary_impl(const std::vector<int64_t>& a_shape, const float* a, const std::vector<int64_t>& b_shape,
                 const float* b, float* out, ThreadPool& pool, const Epilogue& ep) {
  const std::vector<int64_t> os = broadcast_shape(a_shape, b_shape);
  const size_t r = os.size();
  if (r > 8) throw Error("binary_op: shape", "rank above 8");
  // Collapse to (outer dims..., inner run) where a and b each either step by 1 or stay (stride 0).
  std::vector<int64_t> dims, sa, sb;  // collapsed, outermost first
  {
    std::vector<int64_t> da(r, 1), db(r, 1);
    for (size_t i = 0; i < a_shape.size(); ++i) da[r - a_shape.size() + i] = a_shape[i];
    for (size_t i = 0; i < b_shape.size(); ++i) db[r - b_shape.size() + i] = b_shape[i];
    std::vector<bool> ba(r), bb(r);
    for (size_t i = 0; i < r; ++i) ba[i] = da[i] == 1, bb[i] = db[i] == 1;
    for (size_t i = 0; i < r; ++i) {
      if (os[i] == 1) continue;
      if (!dims.empty() && ba[i] == (sa.back() == 0) && bb[i] == (sb.back() == 0)) {
        dims.back() *= os[i];
      } else {
        dims.push_back(os[i]);
        sa.push_back(ba[i] ? 0 : 1);
        sb.push_back(bb[i] ? 0 : 1);
      }
    }
    if (dims.empty()) dims = {1}, sa = {1}, sb = {1};
  }
  // Element strides of each collapsed dim in a and b.
  const size_t d = dims.size();
  std::vector<int64_t> esa(d), esb(d);
  int64_t ma = 1, mb = 1;
  for (size_t i = d; i-- > 0;) {
    esa[i] = sa[i] ? ma : 0;
    esb[i] = sb[i] ? mb : 0;
    if (sa[i]) ma *= dims[i];
    if (sb[i]) mb *= dims[i];
  }
  const int64_t inner = dims.back();
  int64_t outer = 1;
  for (size_t i = 0; i + 1 < d; ++i) outer *= dims[i];
  const Isa isa = active_isa();
  auto do_rows = [&](int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    for (int64_t row = r0; row < r1; ++row) {
      int64_t rem = row, oa = 0, ob = 0;
      for (size_t i = d - 1; i-- > 0;) {
        const int64_t idx = rem % dims[i];
        rem /= dims[i];
        oa += idx * esa[i];
        ob += idx * esb[i];
      }
      float* o = out + row * inner + c0;
      binary_run<kOp>(a + oa + c0 * esa[d - 1], esa[d - 1], b + ob + c0 * esb[d - 1], esb[d - 1], o, c1 - c0);
      if (ep.act != Act::kNone) apply_act_inplace(isa, ep, o, c1 - c0);
    }
  };
  if (outer == 1) {
    const size_t chunks = static_cast<size_t>((inner + kFlatGrain - 1) / kFlatGrain);
    pool.parallel_for(chunks, [&](size_t b0, size_t b1) {
      do_rows(0, 1, static_cast<int64_t>(b0 * kFlatGrain), std::min<int64_t>(inner, static_cast<int64_t>(b1 * kFlatGrain)));
    });
  } else {
    const size_t grain = static_cast<size_t>(std::max<int64_t>(1, static_cast<int64_t>(kFlatGrain) / inner));
    pool.parallel_for(static_cast<size_t>(outer), [&](size_t b0, size_t b1) {
      do_rows(static_cast<int64_t>(b0), static_cast<int64_t>(b1), 0, inner);
    }, grain);
  }
}
}  // namespace

void binary_op(BinaryOp op, const std::vector<int64_t>& a_shape, const float* a, const std::vector<int64_t>& b_shape,
               const float* b, float* out, ThreadPool& pool, const Epilogue& ep) {
  switch (op) {
    case BinaryOp::kAdd: return binary_impl<BinaryOp::kAdd>(a_shape, a, b_shape, b, out, pool, ep);
    case BinaryOp::kMul: return binary_impl<BinaryOp::kMul>(a_shape, a, b_shape, b, out, pool, ep);
    case BinaryOp::kSub: return binary_impl<BinaryOp::kSub>(a_shape, a, b_shape, b, out, pool, ep);
    case BinaryOp::kDiv: return binary_impl<BinaryOp::kDiv>(a_shape, a, b_shape, b, out, pool, ep);
    case BinaryOp::kMax: return binary_impl<BinaryOp::kMax>(a_shape, a, b_shape, b, out, pool, ep);
    case BinaryOp::kMin: return binary_impl<BinaryOp::kMin>(a_shape, a, b_shape, b, out, pool, ep);
    case BinaryOp::kFmod: return binary_impl<BinaryOp::kFmod>(a_shape, a, b_shape, b, out, pool, ep);
  }
}

namespace {
// Element strides of `shape` right-aligned to `os`, 0 where it broadcasts.
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& shape, const std::vector<int64_t>& os) {
  std::vector<int64_t> st(os.size(), 0);
  int64_t step = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    const size_t od = d + os.size() - shape.size();
    st[od] = shape[d] == 1 ? 0 : step;
    step *= shape[d];
  }
  return st;
}
}  // namespace

namespace {
// Both branches are loaded unconditionally and blended: a branch on a mask that changes every few
// elements mispredicts (measured 0.03x memcpy before); strides are 0 or 1, each case a plain loop.
#define HILSIM_SELECT_LOOP(IC, IA, IB)   \
  for (int64_t i = 0; i < n; ++i) {      \
    const float x = a[IA], y = b[IB];    \
    o[i] = c[IC] ? x : y;                \
  }

HILSIM_MEMORY_CLONES void select_run(const uint8_t* __restrict c, int64_t sc, const float* __restrict a, int64_t sa,
                                     const float* __restrict b, int64_t sb, float* __restrict o, int64_t n) {
  if (sc == 1 && sa == 1 && sb == 1) HILSIM_SELECT_LOOP(i, i, i)
  else if (sc == 1 && sa == 1) HILSIM_SELECT_LOOP(i, i, 0)
  else if (sc == 1 && sb == 1) HILSIM_SELECT_LOOP(i, 0, i)
  else HILSIM_SELECT_LOOP(i * sc, i * sa, i * sb)
}
#undef HILSIM_SELECT_LOOP
}  // namespace

void where_select(const std::vector<int64_t>& cond_shape, const uint8_t* cond, const std::vector<int64_t>& a_shape,
                  const float* a, const std::vector<int64_t>& b_shape, const float* b, float* out, ThreadPool& pool) {
  std::vector<int64_t> os = broadcast_shape(broadcast_shape(cond_shape, a_shape), b_shape);
  if (os.empty()) os = {1};  // all scalars
  if (os.size() > 8) throw Error("where_select: shape", "rank above 8");
  const std::vector<int64_t> sc = broadcast_strides(cond_shape, os), sa = broadcast_strides(a_shape, os),
                             sb = broadcast_strides(b_shape, os);
  int64_t total = 1;
  for (int64_t v : os) total *= v;
  if (total == 0) return;
  const size_t r = os.size();
  const int64_t inner = os[r - 1], ic = sc[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  const int64_t rows = total / inner;
  const size_t grain = static_cast<size_t>(std::max<int64_t>(1, static_cast<int64_t>(kFlatGrain) / inner));
  pool.parallel_for(static_cast<size_t>(rows), [&](size_t r0, size_t r1) {
    for (size_t row = r0; row < r1; ++row) {
      int64_t rem = static_cast<int64_t>(row), oc = 0, oa = 0, ob = 0;
      for (size_t d = r - 1; d-- > 0;) {
        const int64_t i = rem % os[d];
        rem /= os[d];
        oc += i * sc[d], oa += i * sa[d], ob += i * sb[d];
      }
      const uint8_t* pc = cond + oc;
      const float *pa = a + oa, *pb = b + ob;
      float* o = out + static_cast<int64_t>(row) * inner;
      select_run(pc, ic, pa, ia, pb, ib, o, inner);
    }
  }, grain);
}

void concat(const std::vector<const float*>& inputs, const std::vector<std::vector<int64_t>>& shapes, int64_t axis,
            float* out, ThreadPool& pool) {
  if (inputs.empty() || inputs.size() != shapes.size()) throw Error("concat: inputs", "need one shape per input, at least one");
  const int64_t rank = static_cast<int64_t>(shapes[0].size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) throw Error("concat: field 'axis'", "out of range for rank " + std::to_string(rank));
  for (size_t i = 1; i < shapes.size(); ++i) {
    if (static_cast<int64_t>(shapes[i].size()) != rank) throw Error("concat: input " + std::to_string(i), "rank differs");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && shapes[i][d] != shapes[0][d])
        throw Error("concat: input " + std::to_string(i) + " dim " + std::to_string(d), "differs from input 0");
  }
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shapes[0][d];
  std::vector<int64_t> inner(inputs.size());
  int64_t row = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    inner[i] = 1;
    for (int64_t d = axis; d < rank; ++d) inner[i] *= shapes[i][d];
    row += inner[i];
  }
  // Flatten into copy tasks of at most kFlatGrain floats so two threads share even a 2-input concat.
  struct Task { const float* src; float* dst; int64_t n; };
  std::vector<Task> tasks;
  for (int64_t o = 0; o < outer; ++o) {
    int64_t off = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      for (int64_t s = 0; s < inner[i]; s += static_cast<int64_t>(kFlatGrain))
        tasks.push_back({inputs[i] + o * inner[i] + s, out + o * row + off + s, std::min<int64_t>(kFlatGrain, inner[i] - s)});
      off += inner[i];
    }
  }
  // Chunks of about kFlatGrain floats: handed out one short task at a time, a DenseNet concat of 48
  // 3x3 inputs ran 1.7x slower on two threads than on one.
  const int64_t total = outer * row;
  const size_t grain = static_cast<size_t>(std::max<int64_t>(
      1, static_cast<int64_t>(kFlatGrain) * static_cast<int64_t>(tasks.size()) / std::max<int64_t>(1, total)));
  pool.parallel_for(tasks.size(), [&](size_t b0, size_t b1) {
    for (size_t t = b0; t < b1; ++t) std::memcpy(tasks[t].dst, tasks[t].src, static_cast<size_t>(tasks[t].n) * sizeof(float));
  }, grain);
}

void resize_nearest(int64_t n, int64_t c, int64_t h, int64_t w, int64_t out_h, int64_t out_w, const float* in,
                    float* out, ThreadPool& pool) {
  if (n < 1 || c < 1 || h < 1 || w < 1) throw Error("resize_nearest: field 'n/c/h/w'", "must be >= 1");
  if (out_h < 1 || out_w < 1) throw Error("resize_nearest: field 'out_h/out_w'", "must be >= 1");
  std::vector<int64_t> ix(static_cast<size_t>(out_w));
  for (int64_t x = 0; x < out_w; ++x) ix[x] = std::min(w - 1, x * w / out_w);
  const bool int_x = out_w % w == 0, int_y = out_h % h == 0;
  const int64_t sx = out_w / w, sy = out_h / h;
  pool.parallel_for(static_cast<size_t>(n * c), [&](size_t b0, size_t b1) {
    for (size_t p = b0; p < b1; ++p) {
      const float* src = in + p * static_cast<size_t>(h * w);
      float* dst = out + p * static_cast<size_t>(out_h * out_w);
      for (int64_t y = 0; y < out_h; ++y) {
        float* o = dst + y * out_w;
        if (int_y && y % sy != 0) {  // integer scale: repeat the row just written
          std::memcpy(o, o - out_w, static_cast<size_t>(out_w) * sizeof(float));
          continue;
        }
        const float* r = src + std::min(h - 1, y * h / out_h) * w;
        if (int_x && sx == 2) {
          for (int64_t x = 0; x < w; ++x) o[2 * x] = o[2 * x + 1] = r[x];
        } else if (int_x) {
          for (int64_t x = 0; x < w; ++x)
            for (int64_t k = 0; k < sx; ++k) o[x * sx + k] = r[x];
        } else {
          for (int64_t x = 0; x < out_w; ++x) o[x] = r[ix[x]];
        }
      }
    }
  });
}

void activation_inplace(const Epilogue& ep, float* x, int64_t n, ThreadPool& pool) {
  if (ep.act == Act::kNone || n <= 0) return;
  const Isa isa = active_isa();
  const size_t chunks = static_cast<size_t>((n + kFlatGrain - 1) / kFlatGrain);
  pool.parallel_for(chunks, [&](size_t b0, size_t b1) {
    const int64_t s = static_cast<int64_t>(b0 * kFlatGrain), e = std::min<int64_t>(n, static_cast<int64_t>(b1 * kFlatGrain));
    apply_act_inplace(isa, ep, x + s, e - s);
  });
}

}  // namespace hilsim::kernels

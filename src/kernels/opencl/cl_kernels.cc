#include "hilsim/kernels/opencl/cl_kernels.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "hilsim/util/error.h"
#include "hilsim/util/hash.h"

namespace hilsim::kernels::opencl {

namespace {

// Activations as the CPU epilogue computes them; p0/p1 are clip's bounds or hard-sigmoid's alpha/beta.
const char* kSource = R"CLC(
inline float act(float x, int a, float p0, float p1) {
  switch (a) {
    case 1: return x > 0.0f ? x : 0.0f;
    case 2: return x < p0 ? p0 : (x > p1 ? p1 : x);
    case 3: return 1.0f / (1.0f + exp(-x));
    case 4: return x / (1.0f + exp(-x));
    case 5: { float t = clamp(x + 3.0f, 0.0f, 6.0f); return x * t / 6.0f; }
    case 6: return clamp(p0 * x + p1, 0.0f, 1.0f);
    default: return x;
  }
}

// Weights packed per tile of FT filters: wp[(tile * K + k) * FT + i] (zeros past the group's last filter).
#define CONV_DENSE(FT)                                                                                         \
__kernel void conv_dense_f##FT(__global const float* in, __global const float* wp, __global const float* bias, \
    __global float* out, int C, int H, int W, int F, int OH, int OW, int KH, int KW, int SH, int SW, int PT,    \
    int PL, int DH, int DW, int G, int act_kind, float p0, float p1) {                                         \
  const int p = get_global_id(0), tile = get_global_id(1), b = get_global_id(2);                             \
  const int Cg = C / G, Fg = F / G, tiles = (Fg + FT - 1) / FT;                                              \
  if (p >= OH * OW || tile >= tiles * G) return;                                                             \
  const int g = tile / tiles, f0 = g * Fg + (tile % tiles) * FT, nf = min(FT, g * Fg + Fg - f0);              \
  const int oy = p / OW, ox = p % OW, iy0 = oy * SH - PT, ix0 = ox * SW - PL;                                \
  const int K = Cg * KH * KW;                                                                                \
  __global const float* x = in + ((size_t)b * C + (size_t)g * Cg) * H * W;                                   \
  __global const float* wt = wp + (size_t)tile * K * FT;                                                     \
  float acc[FT];                                                                                             \
  for (int i = 0; i < FT; ++i) acc[i] = 0.0f;                                                                \
  int k = 0;                                                                                                 \
  for (int c = 0; c < Cg; ++c)                                                                               \
    for (int ky = 0; ky < KH; ++ky) {                                                                        \
      const int iy = iy0 + ky * DH;                                                                          \
      for (int kx = 0; kx < KW; ++kx, ++k) {                                                                 \
        const int ix = ix0 + kx * DW;                                                                        \
        const float v = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[(c * H + iy) * W + ix] : 0.0f;         \
        for (int i = 0; i < FT; ++i) acc[i] += wt[k * FT + i] * v;                                           \
      }                                                                                                      \
    }                                                                                                        \
  __global float* o = out + ((size_t)b * F + f0) * OH * OW + p;                                              \
  for (int i = 0; i < nf; ++i) o[(size_t)i * OH * OW] = act(acc[i] + bias[f0 + i], act_kind, p0, p1);        \
}

// 1x1, stride 1, no padding: a GEMM out[f, p] = sum_c w[f, c] x[c, p], FT filters by one pixel per item.
#define CONV_1X1(FT)                                                                                           \
__kernel void conv1x1_f##FT(__global const float* in, __global const float* wp, __global const float* bias,    \
    __global float* out, int C, int P, int F, int act_kind, float p0, float p1) {                              \
  const int p = get_global_id(0), tile = get_global_id(1), b = get_global_id(2);                             \
  if (p >= P || tile * FT >= F) return;                                                                      \
  const int f0 = tile * FT, nf = min(FT, F - f0);                                                            \
  __global const float* x = in + (size_t)b * C * P + p;                                                      \
  __global const float* wt = wp + (size_t)tile * C * FT;                                                     \
  float acc[FT];                                                                                             \
  for (int i = 0; i < FT; ++i) acc[i] = 0.0f;                                                                \
  for (int c = 0; c < C; ++c) {                                                                              \
    const float v = x[(size_t)c * P];                                                                        \
    for (int i = 0; i < FT; ++i) acc[i] += wt[c * FT + i] * v;                                               \
  }                                                                                                          \
  __global float* o = out + ((size_t)b * F + f0) * P + p;                                                    \
  for (int i = 0; i < nf; ++i) o[(size_t)i * P] = act(acc[i] + bias[f0 + i], act_kind, p0, p1);              \
}

// The CPU engine's packed rows: row r keeps columns row_begin[r]..row_begin[r+1]; column j reads input
// offset coff[j] (c * H * W + dy * W + dx) at window offset (cdy[j], cdx[j]) and multiplies FB values.
#define CONV_ROWS(FB)                                                                                          \
__kernel void conv_rows_fb##FB(__global const float* in, __global const float* vals,                          \
    __global const int* row_begin, __global const int* coff, __global const int* cdy, __global const int* cdx, \
    __global const float* bias, __global float* out, int C, int H, int W, int F, int OH, int OW, int SH,       \
    int SW, int PT, int PL, int act_kind, float p0, float p1) {                                               \
  const int p = get_global_id(0), r = get_global_id(1), b = get_global_id(2);                                \
  if (p >= OH * OW || r * FB >= F) return;                                                                   \
  const int oy = p / OW, ox = p % OW, iy0 = oy * SH - PT, ix0 = ox * SW - PL;                                \
  __global const float* x = in + (size_t)b * C * H * W;                                                      \
  const int base = iy0 * W + ix0;                                                                            \
  float acc[FB];                                                                                             \
  for (int i = 0; i < FB; ++i) acc[i] = 0.0f;                                                                \
  const int j1 = row_begin[r + 1];                                                                           \
  for (int j = row_begin[r]; j < j1; ++j) {                                                                  \
    const int iy = iy0 + cdy[j], ix = ix0 + cdx[j];                                                          \
    const float v = (iy >= 0 && iy < H && ix >= 0 && ix < W) ? x[coff[j] + base] : 0.0f;                     \
    for (int i = 0; i < FB; ++i) acc[i] += vals[j * FB + i] * v;                                             \
  }                                                                                                          \
  const int f0 = r * FB, nf = min(FB, F - f0);                                                               \
  __global float* o = out + ((size_t)b * F + f0) * OH * OW + p;                                              \
  for (int i = 0; i < nf; ++i) o[(size_t)i * OH * OW] = act(acc[i] + bias[f0 + i], act_kind, p0, p1);        \
}

// Four output pixels of a row per work item (stride 1 along x), as explicit float4: one vector load per
// weight column feeds FT x 4 accumulators, the CPU micro-kernel's shape. Lanes past the row's end or
// outside the input are loaded one by one with the bounds check.
inline float4 load4(__global const float* row, int ix, int W) {
  if (ix >= 0 && ix + 3 < W) return vload4(0, row + ix);
  float4 v;
  v.s0 = (ix >= 0 && ix < W) ? row[ix] : 0.0f;
  v.s1 = (ix + 1 >= 0 && ix + 1 < W) ? row[ix + 1] : 0.0f;
  v.s2 = (ix + 2 >= 0 && ix + 2 < W) ? row[ix + 2] : 0.0f;
  v.s3 = (ix + 3 >= 0 && ix + 3 < W) ? row[ix + 3] : 0.0f;
  return v;
}

inline void store4(__global float* o, float4 v, int n, int act_kind, float p0, float p1) {
  float r[4];
  vstore4(v, 0, r);
  for (int j = 0; j < n; ++j) o[j] = act(r[j], act_kind, p0, p1);
}

#define CONV_DENSE4(FT)                                                                                        \
__kernel void conv_dense4_f##FT(__global const float* in, __global const float* wp, __global const float* bias, \
    __global float* out, int C, int H, int W, int F, int OH, int OW, int KH, int KW, int SH, int SW, int PT,    \
    int PL, int DH, int DW, int G, int act_kind, float p0, float p1) {                                         \
  const int q = get_global_id(0), tile = get_global_id(1), b = get_global_id(2);                             \
  const int Cg = C / G, Fg = F / G, tiles = (Fg + FT - 1) / FT, OWq = (OW + 3) / 4;                          \
  if (q >= OH * OWq || tile >= tiles * G) return;                                                            \
  const int g = tile / tiles, f0 = g * Fg + (tile % tiles) * FT, nf = min(FT, g * Fg + Fg - f0);              \
  const int oy = q / OWq, ox0 = (q % OWq) * 4, iy0 = oy * SH - PT, ix0 = ox0 - PL;                           \
  const int K = Cg * KH * KW;                                                                                \
  __global const float* x = in + ((size_t)b * C + (size_t)g * Cg) * H * W;                                   \
  __global const float* wt = wp + (size_t)tile * K * FT;                                                     \
  float4 acc[FT];                                                                                            \
  for (int i = 0; i < FT; ++i) acc[i] = (float4)(0.0f);                                                      \
  for (int c = 0; c < Cg; ++c)                                                                               \
    for (int ky = 0; ky < KH; ++ky) {                                                                        \
      const int iy = iy0 + ky * DH;                                                                          \
      if (iy < 0 || iy >= H) continue;                                                                       \
      __global const float* row = x + (c * H + iy) * W;                                                      \
      for (int kx = 0; kx < KW; ++kx) {                                                                      \
        const float4 v = load4(row, ix0 + kx * DW, W);                                                       \
        __global const float* wk = wt + ((c * KH + ky) * KW + kx) * FT;                                      \
        for (int i = 0; i < FT; ++i) acc[i] += wk[i] * v;                                                    \
      }                                                                                                      \
    }                                                                                                        \
  const int n = min(4, OW - ox0);                                                                            \
  for (int i = 0; i < nf; ++i)                                                                               \
    store4(out + (((size_t)b * F + f0 + i) * OH + oy) * OW + ox0, acc[i] + bias[f0 + i], n, act_kind, p0, p1); \
}

#define CONV_1X1_4(FT)                                                                                         \
__kernel void conv1x1x4_f##FT(__global const float* in, __global const float* wp, __global const float* bias,  \
    __global float* out, int C, int P, int F, int act_kind, float p0, float p1) {                              \
  const int q = get_global_id(0), tile = get_global_id(1), b = get_global_id(2);                             \
  const int p = q * 4;                                                                                       \
  if (p >= P || tile * FT >= F) return;                                                                      \
  const int f0 = tile * FT, nf = min(FT, F - f0);                                                            \
  __global const float* x = in + (size_t)b * C * P;                                                          \
  __global const float* wt = wp + (size_t)tile * C * FT;                                                     \
  float4 acc[FT];                                                                                            \
  for (int i = 0; i < FT; ++i) acc[i] = (float4)(0.0f);                                                      \
  for (int c = 0; c < C; ++c) {                                                                              \
    const float4 v = load4(x + (size_t)c * P, p, P);                                                         \
    for (int i = 0; i < FT; ++i) acc[i] += wt[c * FT + i] * v;                                               \
  }                                                                                                          \
  const int n = min(4, P - p);                                                                               \
  for (int i = 0; i < nf; ++i)                                                                               \
    store4(out + ((size_t)b * F + f0 + i) * P + p, acc[i] + bias[f0 + i], n, act_kind, p0, p1);              \
}

#define CONV_ROWS4(FB)                                                                                         \
__kernel void conv_rows4_fb##FB(__global const float* in, __global const float* vals,                         \
    __global const int* row_begin, __global const int* coff, __global const int* cdy, __global const int* cdx, \
    __global const float* bias, __global float* out, int C, int H, int W, int F, int OH, int OW, int SH,       \
    int SW, int PT, int PL, int act_kind, float p0, float p1) {                                               \
  const int q = get_global_id(0), r = get_global_id(1), b = get_global_id(2), OWq = (OW + 3) / 4;            \
  if (q >= OH * OWq || r * FB >= F) return;                                                                  \
  const int oy = q / OWq, ox0 = (q % OWq) * 4, iy0 = oy * SH - PT, ix0 = ox0 - PL;                           \
  __global const float* x = in + (size_t)b * C * H * W;                                                      \
  float4 acc[FB];                                                                                            \
  for (int i = 0; i < FB; ++i) acc[i] = (float4)(0.0f);                                                      \
  const int j1 = row_begin[r + 1];                                                                           \
  for (int j = row_begin[r]; j < j1; ++j) {                                                                  \
    const int iy = iy0 + cdy[j];                                                                             \
    if (iy < 0 || iy >= H) continue;                                                                         \
    /* coff = c*H*W + dy*W + dx: the row start of (c, iy) is coff - dx + iy0*W. */                           \
    const float4 v = load4(x + coff[j] - cdx[j] + iy0 * W, ix0 + cdx[j], W);                                 \
    for (int i = 0; i < FB; ++i) acc[i] += vals[j * FB + i] * v;                                             \
  }                                                                                                          \
  const int f0 = r * FB, nf = min(FB, F - f0), n = min(4, OW - ox0);                                         \
  for (int i = 0; i < nf; ++i)                                                                               \
    store4(out + (((size_t)b * F + f0 + i) * OH + oy) * OW + ox0, acc[i] + bias[f0 + i], n, act_kind, p0, p1); \
}

CONV_DENSE(4)
CONV_DENSE(8)
CONV_DENSE4(4)
CONV_DENSE4(8)
CONV_1X1_4(4)
CONV_1X1_4(8)
CONV_ROWS4(1)
CONV_ROWS4(2)
CONV_ROWS4(4)
CONV_ROWS4(8)
CONV_ROWS4(16)
CONV_1X1(4)
CONV_1X1(8)
CONV_ROWS(1)
CONV_ROWS(2)
CONV_ROWS(4)
CONV_ROWS(8)
CONV_ROWS(16)

__kernel void conv_depthwise(__global const float* in, __global const float* w, __global const float* bias,
    __global float* out, int C, int H, int W, int OH, int OW, int KH, int KW, int SH, int SW, int PT, int PL,
    int DH, int DW, int act_kind, float p0, float p1) {
  const int p = get_global_id(0), plane = get_global_id(1);
  if (p >= OH * OW) return;
  const int c = plane % C, oy = p / OW, ox = p % OW, iy0 = oy * SH - PT, ix0 = ox * SW - PL;
  __global const float* x = in + (size_t)plane * H * W;
  __global const float* wc = w + c * KH * KW;
  float acc = 0.0f;
  for (int ky = 0; ky < KH; ++ky) {
    const int iy = iy0 + ky * DH;
    if (iy < 0 || iy >= H) continue;
    for (int kx = 0; kx < KW; ++kx) {
      const int ix = ix0 + kx * DW;
      if (ix >= 0 && ix < W) acc += wc[ky * KW + kx] * x[iy * W + ix];
    }
  }
  out[(size_t)plane * OH * OW + p] = act(acc + bias[c], act_kind, p0, p1);
}

// op: 0 add, 1 mul, 2 sub, 3 div; scalar: b holds one value, else as many as a.
__kernel void binary(__global const float* a, __global const float* b, __global float* out, int n, int scalar,
    int op, int act_kind, float p0, float p1) {
  const int i = get_global_id(0);
  if (i >= n) return;
  const float y = b[scalar ? 0 : i];
  const float x = a[i];
  const float r = op == 0 ? x + y : op == 1 ? x * y : op == 2 ? x - y : x / y;
  out[i] = act(r, act_kind, p0, p1);
}

// Per channel: one plane of `inner` values per work-item row (dimension 1), b[plane % channels]. The
// index arithmetic of a 1-D launch, (i / inner) % channels per element, has no vector form on the CPU
// devices PoCL compiles for: squeeze-excite and layer-scale Muls ran 2.2x the time of a same-shape Mul.
__kernel void binary_channel(__global const float* a, __global const float* b, __global float* out, int inner,
    int channels, int op, int act_kind, float p0, float p1) {
  const int i = get_global_id(0), plane = get_global_id(1);
  if (i >= inner) return;
  const float y = b[plane % channels];
  const size_t at = (size_t)plane * inner + i;
  const float x = a[at];
  const float r = op == 0 ? x + y : op == 1 ? x * y : op == 2 ? x - y : x / y;
  out[at] = act(r, act_kind, p0, p1);
}

// The CPU kernel's window rule: cells outside the input are skipped (max) or count as zeros, divided by
// the window clipped to the input (or to the padded input with count_include_pad).
__kernel void pool2d(__global const float* in, __global float* out, int H, int W, int OH, int OW, int KH,
    int KW, int SH, int SW, int PT, int PL, int PB, int PR, int is_max, int include_pad) {
  const int p = get_global_id(0), plane = get_global_id(1);
  if (p >= OH * OW) return;
  const int oy = p / OW, ox = p % OW, y0 = oy * SH - PT, x0 = ox * SW - PL;
  __global const float* x = in + (size_t)plane * H * W;
  float acc = is_max ? -INFINITY : 0.0f;
  for (int y = max(y0, 0); y < min(y0 + KH, H); ++y)
    for (int xx = max(x0, 0); xx < min(x0 + KW, W); ++xx) {
      const float v = x[y * W + xx];
      acc = is_max ? (acc < v ? v : acc) : acc + v;
    }
  if (!is_max) {
    const int ay = include_pad ? -PT : 0, by = include_pad ? H + PB : H;
    const int ax = include_pad ? -PL : 0, bx = include_pad ? W + PR : W;
    const float cnt = (float)(max(0, min(y0 + KH, by) - max(y0, ay)) * max(0, min(x0 + KW, bx) - max(x0, ax)));
    acc = cnt > 0.0f ? acc / cnt : 0.0f;
  }
  out[(size_t)plane * OH * OW + p] = acc;
}

__kernel void plane_mean(__global const float* in, __global float* out, int size) {
  const int plane = get_global_id(0);
  __global const float* x = in + (size_t)plane * size;
  float s = 0.0f;
  for (int i = 0; i < size; ++i) s += x[i];
  out[plane] = s / (float)size;
}

__kernel void copy_block(__global const float* src, __global float* dst, int src_inner, int dst_inner,
    int dst_offset) {
  const int i = get_global_id(0), o = get_global_id(1);
  if (i >= src_inner) return;
  dst[(size_t)o * dst_inner + dst_offset + i] = src[(size_t)o * src_inner + i];
}

__kernel void resize_gather(__global const float* in, __global float* out, __global const int* iy,
    __global const int* ix, int H, int W, int OH, int OW) {
  const int p = get_global_id(0), plane = get_global_id(1);
  if (p >= OH * OW) return;
  const int oy = p / OW, ox = p % OW;
  out[(size_t)plane * OH * OW + p] = in[(size_t)plane * H * W + iy[oy] * W + ix[ox]];
}

__kernel void resize_linear(__global const float* in, __global float* out, __global const int* ylo,
    __global const int* yhi, __global const float* yf, __global const int* xlo, __global const int* xhi,
    __global const float* xf, int H, int W, int OH, int OW) {
  const int p = get_global_id(0), plane = get_global_id(1);
  if (p >= OH * OW) return;
  const int oy = p / OW, ox = p % OW;
  __global const float* r0 = in + (size_t)plane * H * W + ylo[oy] * W;
  __global const float* r1 = in + (size_t)plane * H * W + yhi[oy] * W;
  const int a = xlo[ox], b = xhi[ox];
  const float fx = xf[ox];
  const float top = r0[a] + (r0[b] - r0[a]) * fx;
  const float bot = r1[a] + (r1[b] - r1[a]) * fx;
  out[(size_t)plane * OH * OW + p] = top + (bot - top) * yf[oy];
}
)CLC";

// The process's program and its kernels (created once, shared by every operator).
struct Program {
  std::shared_ptr<ClContext> ctx;
  void* prog = nullptr;
  std::map<std::string, std::shared_ptr<ClKernel>> kernels;
  std::mutex mu;
  static Program& get() {
    static Program p;
    std::lock_guard<std::mutex> lk(p.mu);
    if (!p.ctx) {
      auto ctx = ClContext::get();
      // Relaxed maths is not asked for: results must equal the reference to 1e-4.
      p.prog = ctx->program(kernel_source(), "-cl-std=CL1.2");
      p.ctx = ctx;
    }
    return p;
  }
  std::shared_ptr<ClKernel> kernel(const std::string& name) {
    std::lock_guard<std::mutex> lk(mu);
    auto& k = kernels[name];
    if (!k) k = ctx->kernel(prog, name);
    return k;
  }
};

int act_code(Act a) {
  switch (a) {
    case Act::kNone: return 0;
    case Act::kRelu: return 1;
    case Act::kClip: return 2;
    case Act::kSigmoid: return 3;
    case Act::kSiLU: return 4;
    case Act::kHardSwish: return 5;
    case Act::kHardSigmoid: return 6;
  }
  return 0;
}
float act_p0(const Epilogue& e) { return e.act == Act::kHardSigmoid ? e.alpha : e.min; }
float act_p1(const Epilogue& e) { return e.act == Act::kHardSigmoid ? e.beta : e.max; }

int32_t i32(int64_t v, const char* what) {
  if (v < 0 || v > INT32_MAX) throw Error("OpenCL kernel", std::string(what) + " " + std::to_string(v) + " is beyond int32");
  return static_cast<int32_t>(v);
}

template <typename T>
ClBufferPtr upload(ClContext& ctx, const std::vector<T>& v) {
  auto b = ctx.alloc(v.size() * sizeof(T));
  ctx.write(*b, v.data(), v.size() * sizeof(T));
  return b;
}

class ClDenseConv final : public ClConv {
 public:
  ClDenseConv(const ConvShape& s, const float* w, const float* bias, const Epilogue& ep, ClTile tile)
      : ClConv(s), ep_(ep), tile_(tile) {
    s.validate();
    if (tile_.ft != 4 && tile_.ft != 8) throw Error("OpenCL conv " + s.str(), "tile height must be 4 or 8");
    if (tile_.px != 1 && tile_.px != 4) throw Error("OpenCL conv " + s.str(), "pixels per work item must be 1 or 4");
    Program& p = Program::get();
    ctx_ = p.ctx;
    gemm_ = conv_runs_as_gemm(s);
    if (tile_.px == 4 && !gemm_ && s.stride_w != 1) tile_.px = 1;  // float4 rows need stride 1 along x
    kernel_ = p.kernel((gemm_ ? (tile_.px == 4 ? "conv1x1x4_f" : "conv1x1_f")
                              : (tile_.px == 4 ? "conv_dense4_f" : "conv_dense_f")) + std::to_string(tile_.ft));
    const int64_t G = s.groups, Fg = s.f / G, K = s.c / G * s.kh * s.kw, FT = tile_.ft;
    tiles_ = (Fg + FT - 1) / FT;
    std::vector<float> wp(static_cast<size_t>(G * tiles_ * K * FT), 0.0f);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t t = 0; t < tiles_; ++t)
        for (int64_t i = 0; i < FT && t * FT + i < Fg; ++i) {
          const int64_t f = g * Fg + t * FT + i;
          for (int64_t k = 0; k < K; ++k) wp[static_cast<size_t>(((g * tiles_ + t) * K + k) * FT + i)] = w[f * K + k];
        }
    w_ = upload(*ctx_, wp);
    std::vector<float> b(static_cast<size_t>(s.f), 0.0f);
    if (bias) std::copy(bias, bias + s.f, b.begin());
    b_ = upload(*ctx_, b);
    has_bias_ = bias != nullptr;
  }
  std::string kernel_name() const override {
    return std::string("ocl_") + (gemm_ ? "conv1x1_gemm" : "dense_conv" + std::to_string(shape_.kh) + "x" +
                                                               std::to_string(shape_.kw)) + "_" + tile_.str();
  }
  int64_t weight_bytes() const override { return (shape_.weight_count() + (has_bias_ ? shape_.f : 0)) * 4; }
  int64_t executed_macs() const override { return shape_.macs(); }
  double run_device(const ClBuffer& in, const ClBuffer& out) const override {
    const ConvShape& s = shape_;
    const int64_t P = s.out_h() * s.out_w();
    // Work items along dim 0: pixels, or groups of 4 (a row's in the direct kernel, P's in the GEMM).
    const int64_t items = tile_.px == 1 ? P : gemm_ ? (P + 3) / 4 : s.out_h() * ((s.out_w() + 3) / 4);
    std::vector<size_t> local;
    if (tile_.local) local = {static_cast<size_t>(tile_.local), 1, 1};
    if (gemm_)
      return ctx_->launch(*kernel_, {in, w_, b_, out, i32(s.c, "C"), i32(P, "P"), i32(s.f, "F"), act_code(ep_.act),
                                     act_p0(ep_), act_p1(ep_)},
                          {static_cast<size_t>(items), static_cast<size_t>(tiles_), static_cast<size_t>(s.n)}, local);
    return ctx_->launch(*kernel_, {in, w_, b_, out, i32(s.c, "C"), i32(s.h, "H"), i32(s.w, "W"), i32(s.f, "F"),
                                   i32(s.out_h(), "OH"), i32(s.out_w(), "OW"), i32(s.kh, "KH"), i32(s.kw, "KW"),
                                   i32(s.stride_h, "SH"), i32(s.stride_w, "SW"), i32(s.pad_top, "PT"),
                                   i32(s.pad_left, "PL"), i32(s.dil_h, "DH"), i32(s.dil_w, "DW"), i32(s.groups, "G"),
                                   act_code(ep_.act), act_p0(ep_), act_p1(ep_)},
                        {static_cast<size_t>(items), static_cast<size_t>(tiles_ * s.groups), static_cast<size_t>(s.n)},
                        local);
  }

 private:
  Epilogue ep_;
  ClTile tile_;
  std::shared_ptr<ClContext> ctx_;
  std::shared_ptr<ClKernel> kernel_;
  ClBufferPtr w_, b_;
  bool gemm_ = false, has_bias_ = false;
  int64_t tiles_ = 0;
};

class ClDepthwiseConv final : public ClConv {
 public:
  ClDepthwiseConv(const ConvShape& s, const float* w, const float* bias, const Epilogue& ep) : ClConv(s), ep_(ep) {
    s.validate();
    Program& p = Program::get();
    ctx_ = p.ctx;
    kernel_ = p.kernel("conv_depthwise");
    w_ = upload(*ctx_, std::vector<float>(w, w + s.weight_count()));
    std::vector<float> b(static_cast<size_t>(s.f), 0.0f);
    if (bias) std::copy(bias, bias + s.f, b.begin());
    b_ = upload(*ctx_, b);
    has_bias_ = bias != nullptr;
  }
  std::string kernel_name() const override {
    return "ocl_depthwise_conv" + std::to_string(shape_.kh) + "x" + std::to_string(shape_.kw);
  }
  int64_t weight_bytes() const override { return (shape_.weight_count() + (has_bias_ ? shape_.f : 0)) * 4; }
  int64_t executed_macs() const override { return shape_.macs(); }
  double run_device(const ClBuffer& in, const ClBuffer& out) const override {
    const ConvShape& s = shape_;
    return ctx_->launch(*kernel_, {in, w_, b_, out, i32(s.c, "C"), i32(s.h, "H"), i32(s.w, "W"), i32(s.out_h(), "OH"),
                                   i32(s.out_w(), "OW"), i32(s.kh, "KH"), i32(s.kw, "KW"), i32(s.stride_h, "SH"),
                                   i32(s.stride_w, "SW"), i32(s.pad_top, "PT"), i32(s.pad_left, "PL"),
                                   i32(s.dil_h, "DH"), i32(s.dil_w, "DW"), act_code(ep_.act), act_p0(ep_), act_p1(ep_)},
                        {static_cast<size_t>(s.out_h() * s.out_w()), static_cast<size_t>(s.n * s.c)});
  }

 private:
  Epilogue ep_;
  std::shared_ptr<ClContext> ctx_;
  std::shared_ptr<ClKernel> kernel_;
  ClBufferPtr w_, b_;
  bool has_bias_ = false;
};

class ClRowsConv final : public ClConv {
 public:
  ClRowsConv(const ConvDesc& d, const SparseRows& r, const float* bias)
      : ClConv(d.shape), ep_(d.ep), label_(d.sparse.name()), fb_(r.fb) {
    const ConvShape& s = d.shape;
    s.validate();
    r.validate(s, "OpenCL sparse conv " + s.str());
    if (r.fb != d.sparse.row_height())
      throw Error("OpenCL sparse conv " + s.str(), "rows of " + std::to_string(r.fb) + " filters for format " + label_);
    Program& p = Program::get();
    ctx_ = p.ctx;
    wide_ = s.stride_w == 1;
    kernel_ = p.kernel((wide_ ? "conv_rows4_fb" : "conv_rows_fb") + std::to_string(r.fb));
    std::vector<int32_t> coff(r.cols.size()), cdy(r.cols.size()), cdx(r.cols.size());
    for (size_t j = 0; j < r.cols.size(); ++j) {
      const int64_t col = r.cols[j];
      const int64_t kx = col % s.kw, ky = (col / s.kw) % s.kh, c = col / (s.kw * s.kh);
      cdy[j] = static_cast<int32_t>(ky * s.dil_h);
      cdx[j] = static_cast<int32_t>(kx * s.dil_w);
      coff[j] = i32(c * s.h * s.w + cdy[j] * s.w + cdx[j], "column offset");
    }
    // OpenCL buffers cannot be empty; a row-less conv still gets one-entry buffers it never reads.
    auto nonempty_i = [](std::vector<int32_t> v) { return v.empty() ? std::vector<int32_t>{0} : v; };
    auto nonempty_f = [](std::vector<float> v) { return v.empty() ? std::vector<float>{0.0f} : v; };
    vals_ = upload(*ctx_, nonempty_f(r.values));
    row_begin_ = upload(*ctx_, r.row_begin);
    coff_ = upload(*ctx_, nonempty_i(coff));
    cdy_ = upload(*ctx_, nonempty_i(cdy));
    cdx_ = upload(*ctx_, nonempty_i(cdx));
    std::vector<float> b(static_cast<size_t>(s.f), 0.0f);
    if (bias) std::copy(bias, bias + s.f, b.begin());
    b_ = upload(*ctx_, b);
    has_bias_ = bias != nullptr;
    rows_ = r.rows();
    kept_ = r.kept_weights();
    storage_ = r.storage_bytes();
  }
  std::string kernel_name() const override { return "ocl_" + label_; }
  int64_t weight_bytes() const override { return storage_ + (has_bias_ ? shape_.f * 4 : 0); }
  int64_t executed_macs() const override { return kept_ * shape_.n * shape_.out_h() * shape_.out_w(); }
  double run_device(const ClBuffer& in, const ClBuffer& out) const override {
    ConvShape s = shape_;
    // A 1x1 stride-1 unpadded conv reads each channel plane as one row (every column has dy = dx = 0),
    // so its float4 groups run over the whole plane rather than row by row.
    if (conv_runs_as_gemm(s)) s.w = s.h * s.w, s.h = 1;
    return ctx_->launch(*kernel_, {in, vals_, row_begin_, coff_, cdy_, cdx_, b_, out, i32(s.c, "C"), i32(s.h, "H"),
                                   i32(s.w, "W"), i32(s.f, "F"), i32(s.out_h(), "OH"), i32(s.out_w(), "OW"),
                                   i32(s.stride_h, "SH"), i32(s.stride_w, "SW"), i32(s.pad_top, "PT"),
                                   i32(s.pad_left, "PL"), act_code(ep_.act), act_p0(ep_), act_p1(ep_)},
                        {static_cast<size_t>(wide_ ? s.out_h() * ((s.out_w() + 3) / 4) : s.out_h() * s.out_w()),
                         static_cast<size_t>(rows_), static_cast<size_t>(s.n)});
  }

 private:
  Epilogue ep_;
  std::string label_;
  int fb_;
  bool wide_ = false;
  std::shared_ptr<ClContext> ctx_;
  std::shared_ptr<ClKernel> kernel_;
  ClBufferPtr vals_, row_begin_, coff_, cdy_, cdx_, b_;
  bool has_bias_ = false;
  int64_t rows_ = 0, kept_ = 0, storage_ = 0;
};

// The tuning file: one entry per line, "shape": "fFT_lLOCAL", so it reads back without a JSON library
// (the kernels library has none) and stays valid JSON for anyone else.
std::mutex tuning_mu;

std::map<std::string, ClTile> read_tuning(const std::string& path) {
  std::map<std::string, ClTile> m;
  std::ifstream f(path);
  static const std::regex entry("\"([a-z0-9]+)\": \"f([0-9]+)_l([0-9]+)(_p([0-9]+))?\"");
  for (std::string line; std::getline(f, line);) {
    std::smatch sm;
    if (!std::regex_search(line, sm, entry)) continue;
    ClTile t;
    t.ft = std::stoi(sm[2]);
    t.local = std::stoi(sm[3]);
    t.px = sm[5].matched ? std::stoi(sm[5]) : 1;
    if ((t.ft == 4 || t.ft == 8) && (t.px == 1 || t.px == 4) && t.local >= 0 && t.local <= 1024) m[sm[1]] = t;
  }
  return m;
}

void write_tuning(const std::string& path, const std::map<std::string, ClTile>& m, const DeviceInfo& dev) {
  const std::string dir = path.substr(0, path.rfind('/'));
  for (size_t i = 1; i <= dir.size(); ++i)
    if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream o(tmp);
    std::string name = dev.name;
    for (char& c : name)
      if (c == '"' || c == '\\') c = '_';
    o << "{\"device\": \"" << name << "\",\n\"conv\": {\n";
    size_t i = 0;
    for (const auto& [k, t] : m) o << "\"" << k << "\": \"" << t.str() << "\"" << (++i < m.size() ? ",\n" : "\n");
    o << "}}\n";
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) std::remove(tmp.c_str());
}

}  // namespace

const std::string& kernel_source() {
  static const std::string s = kSource;
  return s;
}

void ClConv::run(const float* in, float* out, ThreadPool&) const {
  const ConvShape& s = shape_;
  const size_t in_bytes = static_cast<size_t>(s.n * s.c * s.h * s.w) * 4;
  const size_t out_bytes = static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()) * 4;
  auto ctx = Program::get().ctx;
  if (!in_buf_) in_buf_ = ctx->alloc(in_bytes);
  if (!out_buf_) out_buf_ = ctx->alloc(out_bytes);
  times_.upload_ms = ctx->write(*in_buf_, in, in_bytes);
  times_.kernel_ms = run_device(*in_buf_, *out_buf_);
  times_.download_ms = ctx->read(*out_buf_, out, out_bytes);
}

std::unique_ptr<ClConv> prepare_cl_conv(const ConvShape& s, const float* w, const float* bias, const Epilogue& ep,
                                        const ClTile* tile) {
  s.validate();
  if (!w) throw Error("OpenCL conv " + s.str(), "null weights");
  if (s.is_depthwise()) return std::make_unique<ClDepthwiseConv>(s, w, bias, ep);
  return std::make_unique<ClDenseConv>(s, w, bias, ep, tile ? *tile : tune_conv(s));
}

std::unique_ptr<ClConv> prepare_cl_sparse_conv(const ConvDesc& d, const SparseRows& rows, const float* bias) {
  return std::make_unique<ClRowsConv>(d, rows, bias);
}

std::string tuning_file() {
  Program& p = Program::get();
  // Keyed by the kernels' source too: a changed kernel (or a new candidate tile) is tuned afresh.
  char src[9];
  std::snprintf(src, sizeof src, "%08llx", static_cast<unsigned long long>(fnv1a(kernel_source()) & 0xffffffffull));
  return ClContext::cache_dir() + "/tuning_" + p.ctx->device_key() + "_" + src + ".json";
}

ClTile tune_conv(const ConvShape& s, bool* from_cache) {
  s.validate();
  const std::string key = s.str() + "n" + std::to_string(s.n);
  const std::string path = tuning_file();
  {
    std::lock_guard<std::mutex> lk(tuning_mu);
    auto m = read_tuning(path);
    if (auto it = m.find(key); it != m.end()) {
      if (from_cache) *from_cache = true;
      return it->second;
    }
  }
  if (from_cache) *from_cache = false;
  // Random weights and input: the time does not depend on the values.
  auto ctx = Program::get().ctx;
  std::vector<float> w(static_cast<size_t>(s.weight_count()), 0.5f);
  auto in = ctx->alloc(static_cast<size_t>(s.n * s.c * s.h * s.w) * 4);
  auto out = ctx->alloc(static_cast<size_t>(s.n * s.f * s.out_h() * s.out_w()) * 4);
  std::vector<float> zeros(static_cast<size_t>(s.n * s.c * s.h * s.w), 0.0f);
  ctx->write(*in, zeros.data(), zeros.size() * 4);
  ClTile best;
  double best_ms = 1e30;
  const bool wide_ok = conv_runs_as_gemm(s) || s.stride_w == 1;
  for (int px : {4, 1})
    for (int ft : {8, 4})
      for (int local : {0, 16}) {
        if (px == 4 && !wide_ok) continue;
        ClTile t{ft, local, px};
        ClDenseConv conv(s, w.data(), nullptr, Epilogue{}, t);
        conv.run_device(*in, *out);  // warm-up
        std::vector<double> ms;
        for (int r = 0; r < 3; ++r) ms.push_back(conv.run_device(*in, *out));
        std::sort(ms.begin(), ms.end());
        if (ms[1] < best_ms) best_ms = ms[1], best = t;
      }
  std::lock_guard<std::mutex> lk(tuning_mu);
  auto m = read_tuning(path);
  m[key] = best;
  write_tuning(path, m, ctx->device());
  return best;
}

double cl_binary(BinaryOp op, const ClBuffer& a, const ClBuffer& b, ClBroadcast mode, int64_t n, int64_t channels,
                 int64_t inner, const ClBuffer& out, const Epilogue& ep) {
  Program& p = Program::get();
  const int code = op == BinaryOp::kAdd ? 0 : op == BinaryOp::kMul ? 1 : op == BinaryOp::kSub ? 2 : 3;
  if (mode == ClBroadcast::kPerChannel) {
    inner = std::max<int64_t>(inner, 1);
    return p.ctx->launch(*p.kernel("binary_channel"), {a, b, out, i32(inner, "inner"), i32(std::max<int64_t>(channels, 1), "channels"),
                                                       code, act_code(ep.act), act_p0(ep), act_p1(ep)},
                         {static_cast<size_t>(inner), static_cast<size_t>(n / inner)});
  }
  return p.ctx->launch(*p.kernel("binary"), {a, b, out, i32(n, "n"), mode == ClBroadcast::kScalar ? 1 : 0, code,
                                             act_code(ep.act), act_p0(ep), act_p1(ep)},
                       {static_cast<size_t>(n)});
}

double cl_pool2d(bool is_max, const Pool2dShape& s, const ClBuffer& in, const ClBuffer& out) {
  s.validate();
  Program& p = Program::get();
  return p.ctx->launch(*p.kernel("pool2d"), {in, out, i32(s.h, "H"), i32(s.w, "W"), i32(s.out_h, "OH"), i32(s.out_w, "OW"),
                                             i32(s.kh, "KH"), i32(s.kw, "KW"), i32(s.stride_h, "SH"),
                                             i32(s.stride_w, "SW"), i32(s.pad_top, "PT"), i32(s.pad_left, "PL"),
                                             i32(s.pad_bottom, "PB"), i32(s.pad_right, "PR"), is_max ? 1 : 0,
                                             s.count_include_pad ? 1 : 0},
                       {static_cast<size_t>(s.out_h * s.out_w), static_cast<size_t>(s.n * s.c)});
}

double cl_global_avg_pool(int64_t planes, int64_t size, const ClBuffer& in, const ClBuffer& out) {
  Program& p = Program::get();
  return p.ctx->launch(*p.kernel("plane_mean"), {in, out, i32(size, "size")}, {static_cast<size_t>(planes)});
}

double cl_copy_block(const ClBuffer& src, const ClBuffer& dst, int64_t outer, int64_t src_inner, int64_t dst_inner,
                     int64_t dst_offset) {
  Program& p = Program::get();
  return p.ctx->launch(*p.kernel("copy_block"), {src, dst, i32(src_inner, "inner"), i32(dst_inner, "inner"),
                                                 i32(dst_offset, "offset")},
                       {static_cast<size_t>(src_inner), static_cast<size_t>(outer)});
}

double cl_resize_gather(int64_t planes, int64_t h, int64_t w, int64_t out_h, int64_t out_w,
                        const std::vector<int32_t>& iy, const std::vector<int32_t>& ix, const ClBuffer& in,
                        const ClBuffer& out) {
  if (static_cast<int64_t>(iy.size()) != out_h || static_cast<int64_t>(ix.size()) != out_w)
    throw Error("OpenCL resize", "index tables do not match the output size");
  Program& p = Program::get();
  auto by = upload(*p.ctx, iy), bx = upload(*p.ctx, ix);
  return p.ctx->launch(*p.kernel("resize_gather"), {in, out, by, bx, i32(h, "H"), i32(w, "W"), i32(out_h, "OH"),
                                                    i32(out_w, "OW")},
                       {static_cast<size_t>(out_h * out_w), static_cast<size_t>(planes)});
}

double cl_resize_linear(int64_t planes, int64_t h, int64_t w, int64_t out_h, int64_t out_w, const LinearTaps& ty,
                        const LinearTaps& tx, const ClBuffer& in, const ClBuffer& out) {
  if (static_cast<int64_t>(ty.lo.size()) != out_h || static_cast<int64_t>(tx.lo.size()) != out_w)
    throw Error("OpenCL resize", "taps do not match the output size");
  Program& p = Program::get();
  auto ints = [](const std::vector<int64_t>& v) {
    std::vector<int32_t> r(v.size());
    for (size_t i = 0; i < v.size(); ++i) r[i] = static_cast<int32_t>(v[i]);
    return r;
  };
  auto ylo = upload(*p.ctx, ints(ty.lo)), yhi = upload(*p.ctx, ints(ty.hi)), yf = upload(*p.ctx, ty.frac);
  auto xlo = upload(*p.ctx, ints(tx.lo)), xhi = upload(*p.ctx, ints(tx.hi)), xf = upload(*p.ctx, tx.frac);
  return p.ctx->launch(*p.kernel("resize_linear"), {in, out, ylo, yhi, yf, xlo, xhi, xf, i32(h, "H"), i32(w, "W"),
                                                    i32(out_h, "OH"), i32(out_w, "OW")},
                       {static_cast<size_t>(out_h * out_w), static_cast<size_t>(planes)});
}

ClBufferPtr to_device(const std::vector<float>& v) { return upload(*Program::get().ctx, v); }

std::vector<float> from_device(const ClBuffer& b, size_t n) {
  std::vector<float> v(n);
  Program::get().ctx->read(b, v.data(), n * 4);
  return v;
}

}  // namespace hilsim::kernels::opencl

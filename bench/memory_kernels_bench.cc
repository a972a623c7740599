// Data-movement and per-channel kernels on a tensor beyond L2 (1x64x160x160 fp32, 6.5 MB), each
// against a memcpy of the same output bytes timed in the same run on the same threads: the counter
// `vs_memcpy` is memcpy's time over the kernel's (1.0 = memcpy speed; the goal is >= 0.5).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "hilsim/kernels/layout_ops.h"
#include "hilsim/kernels/math_ops.h"
#include "hilsim/kernels/memory_ops.h"
#include "hilsim/kernels/thread_pool.h"

namespace {

using namespace hilsim::kernels;
using Clock = std::chrono::steady_clock;

constexpr int64_t kN = 1, kC = 64, kH = 160, kW = 160;
constexpr int64_t kElems = kN * kC * kH * kW;

std::vector<float> random_tensor(int64_t n) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// memcpy of `n` floats split over the pool like the kernels split their work.
void parallel_memcpy(const float* src, float* dst, int64_t n, ThreadPool& pool) {
  constexpr int64_t kChunk = 16384;
  pool.parallel_for(static_cast<size_t>((n + kChunk - 1) / kChunk), [&](size_t b0, size_t b1) {
    const int64_t s = static_cast<int64_t>(b0) * kChunk, e = std::min<int64_t>(n, static_cast<int64_t>(b1) * kChunk);
    std::memcpy(dst + s, src + s, static_cast<size_t>(e - s) * sizeof(float));
  });
}

double median_s(const std::function<void()>& fn, int reps) {
  std::vector<double> t;
  fn();
  for (int i = 0; i < reps; ++i) {
    const auto a = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(Clock::now() - a).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

// Times `kernel` (writing `out_elems` floats), then memcpy of as many floats, alternating rounds so both
// see the same machine state; reports the kernel's bandwidth and the ratio.
void run_against_memcpy(benchmark::State& state, int64_t out_elems, const std::function<void(ThreadPool&)>& kernel) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  const auto src = random_tensor(out_elems);
  std::vector<float> dst(static_cast<size_t>(out_elems));
  double kernel_s = 0.0, copy_s = 0.0;
  for (auto _ : state) {
    const double k = median_s([&] { kernel(pool); }, 5);
    copy_s += median_s([&] { parallel_memcpy(src.data(), dst.data(), out_elems, pool); }, 5);
    kernel_s += k;
    state.SetIterationTime(k);
  }
  const double bytes = 2.0 * static_cast<double>(out_elems) * sizeof(float);
  state.counters["kernel_gbps"] = bytes / (kernel_s / static_cast<double>(state.iterations())) / 1e9;
  state.counters["memcpy_gbps"] = bytes / (copy_s / static_cast<double>(state.iterations())) / 1e9;
  state.counters["vs_memcpy"] = copy_s / kernel_s;
}

void BM_TransposeNchwToNhwc(benchmark::State& state) {
  const auto x = random_tensor(kElems);
  std::vector<float> y(static_cast<size_t>(kElems));
  const StridedCopy c = make_transpose({kN, kC, kH, kW}, {0, 2, 3, 1});
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) { strided_copy(c, x.data(), y.data(), pool); });
}

void BM_ChannelShuffle(benchmark::State& state) {
  // ShuffleNetV2: [1, 2, 32, H, W] -> perm (0, 2, 1, 3, 4).
  const auto x = random_tensor(kElems);
  std::vector<float> y(static_cast<size_t>(kElems));
  const StridedCopy c = make_transpose({kN, 2, kC / 2, kH, kW}, {0, 2, 1, 3, 4});
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) { strided_copy(c, x.data(), y.data(), pool); });
}

void BM_BatchNormAffine(benchmark::State& state) {
  const auto x = random_tensor(kElems);
  const auto s = random_tensor(kC), b = random_tensor(kC);
  std::vector<float> y(static_cast<size_t>(kElems));
  Epilogue relu;
  relu.act = Act::kRelu;
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) {
    channel_affine(kN, kC, kH * kW, x.data(), s.data(), b.data(), y.data(), pool, relu);
  });
}

void pad_bench(benchmark::State& state, PadMode mode) {
  const auto x = random_tensor(kElems);
  PadShape p;
  p.in_shape = {kN, kC, kH, kW};
  p.pads = {0, 0, 1, 1, 0, 0, 1, 1};
  p.mode = mode;
  int64_t out = 1;
  for (int64_t v : p.out_shape()) out *= v;
  std::vector<float> y(static_cast<size_t>(out));
  run_against_memcpy(state, out, [&](ThreadPool& pool) { pad(p, x.data(), y.data(), pool); });
}
void BM_PadConstant(benchmark::State& state) { pad_bench(state, PadMode::kConstant); }
void BM_PadReflect(benchmark::State& state) { pad_bench(state, PadMode::kReflect); }

void BM_SliceHalfChannels(benchmark::State& state) {
  const auto x = random_tensor(kElems);
  const int64_t out = kElems / 2;
  std::vector<float> y(static_cast<size_t>(out));
  const StridedCopy c = make_slice({kN, kC, kH, kW}, {0, kC / 2, 0, 0}, {1, 1, 1, 1}, {kN, kC / 2, kH, kW});
  run_against_memcpy(state, out, [&](ThreadPool& pool) { strided_copy(c, x.data(), y.data(), pool); });
}

void BM_WhereMaskedFill(benchmark::State& state) {
  // masked_fill as exported: one [H, W] mask over every channel, a scalar for the masked places.
  const auto x = random_tensor(kElems);
  std::vector<uint8_t> mask(static_cast<size_t>(kH * kW));
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = i % 3 != 0;
  const float fill = -100.0f;
  std::vector<float> y(static_cast<size_t>(kElems));
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) {
    where_select({1, 1, kH, kW}, mask.data(), {kN, kC, kH, kW}, x.data(), {}, &fill, y.data(), pool);
  });
}

void BM_ExpandRows(benchmark::State& state) {
  // [1, C, 1, W] -> [1, C, H, W]: a strided copy whose H stride is 0.
  const auto x = random_tensor(kN * kC * kW);
  std::vector<float> y(static_cast<size_t>(kElems));
  const StridedCopy c = make_strided_copy({kN, kC, kH, kW}, {kC * kW, kW, 0, 1}, 0);
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) { strided_copy(c, x.data(), y.data(), pool); });
}

void BM_FmodPerChannel(benchmark::State& state) {
  const auto x = random_tensor(kElems);
  std::vector<float> d(static_cast<size_t>(kC), 0.37f);
  std::vector<float> y(static_cast<size_t>(kElems));
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) {
    binary_op(BinaryOp::kFmod, {kN, kC, kH, kW}, x.data(), {kC, 1, 1}, d.data(), y.data(), pool);
  });
}

void BM_GeluTanh(benchmark::State& state) {
  const auto x = random_tensor(kElems);
  std::vector<float> y(static_cast<size_t>(kElems));
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) {
    unary_op(UnaryOp::kGeluTanh, x.data(), y.data(), kElems, pool);
  });
}

void BM_Gelu(benchmark::State& state) {
  // ConvNeXt's GELU (erf form): a rational erf per element, vectorised only under -fno-trapping-math.
  const auto x = random_tensor(kElems);
  std::vector<float> y(static_cast<size_t>(kElems));
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) { unary_op(UnaryOp::kGelu, x.data(), y.data(), kElems, pool); });
}

void BM_AddResidual(benchmark::State& state) {
  const auto a = random_tensor(kElems), b = random_tensor(kElems);
  std::vector<float> y(static_cast<size_t>(kElems));
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) {
    binary_op(BinaryOp::kAdd, {kN, kC, kH, kW}, a.data(), {kN, kC, kH, kW}, b.data(), y.data(), pool);
  });
}

void BM_MulPerChannel(benchmark::State& state) {
  // A squeeze-excite scale: [N, C, H, W] x [N, C, 1, 1].
  const auto x = random_tensor(kElems), s = random_tensor(kN * kC);
  std::vector<float> y(static_cast<size_t>(kElems));
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) {
    binary_op(BinaryOp::kMul, {kN, kC, kH, kW}, x.data(), {kN, kC, 1, 1}, s.data(), y.data(), pool);
  });
}

void BM_BatchNormSmallPlanes(benchmark::State& state) {
  // DenseNet's late standalone batch norms: many channels of 4x4 planes (the same bytes as above).
  const int64_t c = kElems / 16;
  const auto x = random_tensor(kElems), s = random_tensor(c), b = random_tensor(c);
  std::vector<float> y(static_cast<size_t>(kElems));
  Epilogue relu;
  relu.act = Act::kRelu;
  run_against_memcpy(state, kElems, [&](ThreadPool& pool) {
    channel_affine(1, c, 16, x.data(), s.data(), b.data(), y.data(), pool, relu);
  });
}

// Max pools read the whole tensor and write a quarter (3x3 stride 2, ResNet's stem on 64 x 160 x 160)
// or all of it (5x5 stride 1, a large YOLO's SPPF: 1024 x 20 x 20, also beyond L2); both against a
// memcpy of the tensor they read.
Pool2dShape pool_shape(int64_t c, int64_t hw, int64_t k, int64_t stride) {
  Pool2dShape p;
  p.n = 1, p.c = c, p.h = p.w = hw, p.kh = p.kw = k, p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = k / 2;
  p.out_h = p.out_w = (hw + 2 * (k / 2) - k) / stride + 1;
  return p;
}

void run_pool(benchmark::State& state, const Pool2dShape& p) {
  const int64_t in = p.n * p.c * p.h * p.w;
  const auto x = random_tensor(in);
  std::vector<float> y(static_cast<size_t>(p.n * p.c * p.out_h * p.out_w));
  run_against_memcpy(state, in, [&](ThreadPool& pool) { max_pool2d(p, x.data(), y.data(), pool); });
}

void BM_MaxPool3x3s2(benchmark::State& state) { run_pool(state, pool_shape(kC, kH, 3, 2)); }
void BM_MaxPool5x5s1(benchmark::State& state) { run_pool(state, pool_shape(1024, 20, 5, 1)); }

}  // namespace

// Argument: threads.
BENCHMARK(BM_TransposeNchwToNhwc)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_ChannelShuffle)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_BatchNormAffine)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_PadConstant)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_PadReflect)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_SliceHalfChannels)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_WhereMaskedFill)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_ExpandRows)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_FmodPerChannel)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_GeluTanh)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_Gelu)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_AddResidual)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_MulPerChannel)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_BatchNormSmallPlanes)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_MaxPool3x3s2)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK(BM_MaxPool5x5s1)->Arg(1)->Arg(2)->UseManualTime()->Iterations(5);
BENCHMARK_MAIN();

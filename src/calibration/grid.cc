#include "hilsim/calibration/grid.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <numeric>
#include <set>
#include <tuple>
#include <stdexcept>

#include "hilsim/kernels/memory_ops.h"
#include "hilsim/kernels/dense_conv.h"
#include "hilsim/kernels/sparse_masks.h"
#include "hilsim/model/conv_kernel_class.h"
#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

bool starts(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
bool is_conv_class(const std::string& k) {
  return starts(k, "dense_conv") || starts(k, "depthwise_conv") || starts(k, "sparse_fb");
}

int64_t out_dim(int64_t h, int64_t k, int64_t stride, int64_t pad) { return (h + 2 * pad - k) / stride + 1; }
int64_t pool_pad(const KernelPoint& p) { return p.k == 2 ? 0 : p.k / 2; }

// The class a dense-setting conv of shape `s` runs under: the runtime's rule (depthwise shapes go to the
// depthwise kernels, every other one to the dense GEMM) through the cost model's one class table.
std::string dense_setting_class(const kernels::ConvShape& s) {
  if (kernels::dense_conv_gemm_rows(s) > 0) return "gemm";
  return model::conv_kernel_class(s.is_depthwise() ? runtime::ConvFamily::kDepthwise : runtime::ConvFamily::kDense,
                                  s.kh, s.kw, 1);
}

// Keeps a point under the policy's caps: the image shrinks first (the per-pixel cost is what is
// measured), then the channels (grouped convs by whole groups, keeping their width). Real layers above
// the cap are thereby sampled at their channel counts.
void cap(KernelPoint& p, const CalibrationPolicy& pol) {
  if (p.op == "conv") {
    const int64_t group_width = p.groups > 1 && p.groups < p.c ? p.c / p.groups : 0;
    for (int guard = 0; p.macs() > pol.max_sample_macs && guard < 200; ++guard) {
      if (p.h > std::max<int64_t>(8, p.k)) {
        p.h = p.w = std::max<int64_t>(std::max<int64_t>(8, p.k), p.h * 4 / 5);
      } else if (p.groups == 1) {
        p.c = std::max<int64_t>(3, p.c * 4 / 5);
        p.f = std::max<int64_t>(8, p.f * 4 / 5);
      } else if (group_width > 0) {
        p.groups = std::max<int64_t>(2, p.groups * 4 / 5);
        p.c = p.f = p.groups * group_width;
      } else {
        p.c = p.f = p.groups = std::max<int64_t>(8, p.c * 4 / 5);
      }
    }
    // Padded depthwise windows run on any map (ConvNeXt's 7x7 on 3x3 maps at 96x96); other convs keep a
    // map at least as wide as their window.
    if (p.h < p.k && !(p.groups > 1 && p.groups == p.c && p.k / 2 > 0)) p.h = p.w = p.k;
  } else if (p.op == "gemm") {
    for (int guard = 0; p.macs() > pol.max_sample_macs && guard < 200; ++guard) {
      if (p.h > 4) p.h = std::max<int64_t>(4, p.h * 4 / 5);
      else p.c = std::max<int64_t>(64, p.c * 4 / 5), p.f = std::max<int64_t>(16, p.f * 4 / 5);
    }
  } else {
    const int64_t per_pixel = p.op == "concat" ? p.concat_channels() : p.op == "resize" ? 5 * p.c : p.c;
    while (per_pixel * p.h * p.w > pol.max_sample_elements && p.h > 1) p.h = p.w = std::max<int64_t>(1, p.h * 4 / 5);
    if (p.op == "maxpool" && p.h < p.k) p.h = p.w = p.k;
  }
}

// A plain 1x1 conv on a small plane runs and is priced as a GEMM over its pixels
// (kernels::dense_conv_gemm_rows), a sample of the gemm class: a dense conv point grows its map until
// its class's kernel runs it.
void keep_in_class(KernelPoint& p) {
  if (p.op == "conv" && starts(p.klass, "dense_conv"))
    for (int guard = 0; dense_setting_class(p.conv_shape()) != p.klass && p.h < 160 && guard < 40; ++guard)
      p.h = p.w = std::max<int64_t>(p.h + 1, p.h * 5 / 4);
}

}  // namespace

bool is_real_network_kind(const KernelPoint& p) {
  // Grouped convs run the dense kernel group by group; non-overlapping windows (ConvNeXt's downsample
  // convs and stem) are in no zoo model the in-context runs time.
  if (p.op == "conv")
    return (p.groups > 1 && starts(p.klass, "dense_conv")) || (p.k == 1 && p.h == 1 && p.w == 1) ||
           (p.k > 1 && p.k == p.stride);
  if (p.op == "gemm") return 4 * p.c * p.f >= (int64_t{8} << 20) || p.h > 1;  // far heads start at 2048 x 1024
  if (p.op == "concat") return p.inputs > 2 || p.concat_axis != 1;
  return p.op == "affine" || p.op == "gelu" || p.op == "scale" || p.op == "global_avgpool" || p.op == "transpose" || p.op == "split";
}

std::string real_network_kind(const KernelPoint& p) {
  if (p.op == "conv") return p.k > 1 && p.k == p.stride ? "patchify" : p.groups > 1 ? "grouped" : "1x1 map";
  if (p.op == "gemm") return p.h > 1 ? "tokens" : "far head";
  if (p.op == "concat") return p.concat_axis != 1 ? "inner axis" : "many inputs";
  return p.op;
}

// Radical inverse in base b with a Cranley-Patterson shift: a scrambled Halton coordinate in [0, 1).
double halton(uint64_t i, int b, double shift) {
  double f = 1.0, r = 0.0;
  for (uint64_t n = i + 1; n > 0; n /= static_cast<uint64_t>(b)) {
    f /= b;
    r += f * static_cast<double>(n % static_cast<uint64_t>(b));
  }
  r += shift;
  return r - std::floor(r);
}

int64_t log_uniform(double u, int64_t lo, int64_t hi) {
  const double v = std::exp(std::log(static_cast<double>(lo)) + u * (std::log(static_cast<double>(hi)) - std::log(static_cast<double>(lo))));
  return std::clamp<int64_t>(std::llround(v), lo, hi);
}

const std::vector<std::string>& calibration_classes() {
  static const std::vector<std::string> c = {
      "dense_conv1x1", "dense_conv3x3", "dense_conv5x5", "dense_convkxk", "depthwise_conv3x3", "depthwise_conv5x5",
      "depthwise_conv7x7", "sparse_fb1", "sparse_fb2",   "sparse_fb4",    "sparse_fb8",        "sparse_fb16",
      "gemm",          "pool",          "elementwise",   "concat",        "resize",            "copy"};
  return c;
}

void check_kernel_class(const std::string& klass) {
  const auto& known = calibration_classes();
  if (klass == "transfer" || std::find(known.begin(), known.end(), klass) != known.end()) return;
  std::string list;
  for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
  throw Error("--classes", "unknown kernel class '" + klass + "' (known: " + list + ", transfer)");
}

std::string KernelPoint::key() const {
  std::string s = klass + "/t" + std::to_string(threads) + "/" + op + "/c" + std::to_string(c) + "f" + std::to_string(f) +
                  "h" + std::to_string(h) + "w" + std::to_string(w) + "k" + std::to_string(k) + "s" +
                  std::to_string(stride) + "g" + std::to_string(groups);
  if (format != "dense")
    s += "/" + format + std::to_string(bf) + "x" + std::to_string(bc) + "e" + std::to_string(entries) + "r" +
         std::to_string(std::lround(ratio * 1000));
  if (op == "concat" && inputs != 2) s += "/n" + std::to_string(inputs);  // two-input keys as before (--resume)
  if (op == "concat" && concat_axis != 1) s += "/ax" + std::to_string(concat_axis);
  return s + "/a" + std::to_string(act);
}

kernels::ConvShape KernelPoint::conv_shape() const {
  kernels::ConvShape s;
  s.c = c, s.f = f, s.h = h, s.w = w, s.kh = s.kw = k, s.stride_h = s.stride_w = stride, s.groups = groups;
  // "Same" padding, except for non-overlapping windows (kernel == stride: ConvNeXt's 2x2 s2 downsample
  // and 4x4 s4 stem, ViT's patch embedding), which have none.
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = k > 1 && k == stride ? 0 : k / 2;
  return s;
}

int64_t KernelPoint::macs() const {
  if (op == "conv") return conv_shape().macs();
  if (op == "gemm") return h * c * f;
  return 0;
}

int64_t KernelPoint::working_set_bytes() const {
  if (op == "conv") {
    const auto s = conv_shape();
    return 4 * (c * h * w + f * s.out_h() * s.out_w() + s.weight_count());
  }
  if (op == "gemm") return 4 * (h * c + h * f + c * f);
  if (op == "concat") return 8 * concat_channels() * h * w;
  if (op == "resize") return 20 * c * h * w;
  return 12 * c * h * w;
}

int64_t KernelPoint::weight_bytes() const {
  if (op == "conv") return 4 * conv_shape().weight_count();
  if (op == "gemm") return 4 * c * f;
  return 0;
}

std::vector<KernelPoint> design(const std::string& klass, int threads, int n, uint64_t seed,
                                const CalibrationPolicy& policy) {
  check_kernel_class(klass);
  std::vector<KernelPoint> pts;
  if (klass == "transfer") return pts;
  const double golden[6] = {0.618034, 0.414214, 0.732051, 0.236068, 0.645751, 0.316625};
  const int primes[6] = {2, 3, 5, 7, 11, 13};
  double sh[6];
  for (int d = 0; d < 6; ++d) sh[d] = std::fmod(static_cast<double>(seed) * golden[d], 1.0);
  int grouped = 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t idx = static_cast<uint64_t>(i) + seed * 7919;
    double u[6];
    for (int d = 0; d < 6; ++d) u[d] = halton(idx, primes[d], sh[d]);
    KernelPoint p;
    p.klass = klass;
    p.threads = threads;
    if (is_conv_class(klass)) {
      p.op = "conv";
      p.act = static_cast<int>(u[5] * 3) % 3;
      // Depthwise layers: mostly SiLU (EfficientNet, MobileNetV3's hard-swish), which the in-context
      // runs (ReLU nets) never time; at a third, 3 grid layers a thread count carried the term, too few
      // to fit, and the dense convs' borrowed epilogue rate priced EfficientNet-B2's 3x3 layers +27..+43%.
      if (starts(klass, "depthwise_conv")) p.act = u[5] < 2.0 / 3.0 ? 2 : (u[5] < 5.0 / 6.0 ? 1 : 0);
      p.stride = u[3] < 0.3 ? 2 : 1;
      p.h = p.w = log_uniform(u[2], 4, 160);
      p.c = log_uniform(u[0], 8, 1024);
      p.f = log_uniform(u[1], 8, 1024);
      if (klass == "dense_conv1x1") {
        p.k = 1;
        // From 2x2 up: a 1x1 map (squeeze-excite) runs as a GEMM (kernels::dense_conv_runs_as_gemm), whose
        // one-row design points cover it.
        p.h = p.w = log_uniform(u[2], 2, 160);
      }
      if (klass == "dense_conv3x3") p.k = 3;
      if (klass == "dense_conv3x3" && u[2] < policy.late_layer_share) {
        p.h = p.w = log_uniform(u[2] / policy.late_layer_share, 2, 8);
        p.c = log_uniform(u[0], 256, 2048);
        p.f = log_uniform(u[1], 256, 2048);
      }
      if (klass == "dense_conv5x5" || klass == "dense_convkxk") {
        p.k = klass == "dense_conv5x5" ? 5 : 6 + static_cast<int64_t>(u[4] * 2);  // 6, 7 (YOLO's stem, ResNet's)
        p.c = log_uniform(u[0], 3, 128);
        p.h = p.w = log_uniform(u[2], 16, 160);
        if (klass == "dense_convkxk" && u[3] < policy.patchify_kxk_share) {
          const double v = u[0] / policy.stem_kxk_share;
          if (v < 1) {
            p.c = 3, p.stride = 2, p.h = p.w = log_uniform(u[2], 64, 320);
            p.f = log_uniform(v, 16, 96);
          } else {
            p.c = log_uniform((u[0] - policy.stem_kxk_share) / (1 - policy.stem_kxk_share), 8, 128);
          }
        }
        if (klass == "dense_convkxk" && u[3] >= policy.patchify_kxk_share) {
          // Non-overlapping windows: its im2col is a pure reshuffle and the GEMM's K is 4C (2x2 s2, a
          // ConvNeXt downsample of 128-1024 channels) or 48 (a 4x4 s4 stem on the image).
          const bool stem = u[4] >= 0.75;
          p.k = p.stride = stem ? 4 : 2;
          p.c = stem ? 3 : log_uniform(u[0], 32, 1024);
          p.f = stem ? log_uniform(u[1], 32, 256) : std::min<int64_t>(2048, 2 * p.c);
          p.h = p.w = stem ? log_uniform(u[2], 32, 160) : log_uniform(u[2], 6, 112);
        }
      }
      // Grouped convs (ResNeXt, RegNet: 8-64 channels a group) run the dense kernel group by group, with
      // short K and few filters per register tile: without them in the design a 3x3 conv of 16-channel
      // groups ran 35-40% over the rate fitted on ungrouped layers.
      // The widths take turns (those of the mispredicted layers first: ResNeXt's 8, RegNetY's 24, the
      // last stage's 64), so a design of a few grouped points still spans them.
      if ((klass == "dense_conv3x3" || klass == "dense_conv1x1") && u[4] >= policy.grouped_conv_share &&
          p.h > 1) {
        const int64_t widths[6] = {8, 24, 64, 16, 32, 4};
        const int64_t group_width = widths[grouped++ % 6];
        p.c = p.f = std::max<int64_t>(2, (p.c + group_width - 1) / group_width) * group_width;
        p.groups = p.c / group_width;
      }
      if (starts(klass, "depthwise_conv")) {
        p.k = klass == "depthwise_conv3x3" ? 3 : klass == "depthwise_conv5x5" ? 5 : 7;
        p.f = p.groups = p.c;
        p.h = p.w = log_uniform(u[2], 4, 112);
        // ConvNeXt: 7x7 at stride 1 on maps of 56..7 at 224 and 24..3 at 96, 128-1024 channels.
        if (p.k == 7) p.h = p.w = log_uniform(u[2], 3, 64), p.c = p.f = p.groups = log_uniform(u[0], 32, 1024);
      }
      if (starts(klass, "sparse_fb")) {
        const int fb = std::stoi(klass.substr(9));
        p.k = u[4] < 0.5 ? 1 : 3;
        p.ratio = std::min(0.95, u[3]);
        p.stride = u[3] > 0.8 ? 2 : 1;
        const int bcs[5] = {1, 2, 4, 8, 16};
        p.bc = bcs[static_cast<int>(u[5] * 5) % 5];
        if (fb == 1) {
          const int which = static_cast<int>(u[4] * 6) % 3;  // pattern, csr, block 1xbc
          if (which == 0 && (p.k == 3 || p.c >= 9)) {
            p.format = "pattern";
            p.entries = u[3] < 0.5 ? 2 : 3;
          } else if (which == 1 && p.k == 1) {
            p.format = "csr";
          } else {
            p.format = "block";
            p.bf = 1;
          }
        } else {
          p.format = u[5] < 0.8 ? "block" : "block_col";
          p.bf = fb == 16 ? (u[4] < 0.75 ? 16 : 32) : fb;
        }
        if (p.format != "block") p.bc = 1;
        if (policy.sparse_stem_every > 0 && idx % static_cast<uint64_t>(policy.sparse_stem_every) == 0) {
          p.k = u[4] < 0.5 ? 6 : 7, p.c = 3, p.stride = 2;
          p.f = log_uniform(u[1], 16, 96);
          p.h = p.w = log_uniform(u[2], 64, 320);
          if (p.format != "block" && p.format != "block_col") p.format = "block", p.bf = 1;
        }
      }
    } else if (klass == "gemm") {
      p.op = "gemm";
      p.c = log_uniform(u[0], 64, 4096);
      p.f = log_uniform(u[1], 16, 4096);
      // Classifier heads far beyond the last-level cache (AlexNet's 9216x4096, VGG's 4096x4096): their
      // weights stream from DRAM, a rate the L2-sized layers above cannot show (they ran 58-61% over).
      if (u[3] >= policy.far_gemm_share) p.c = log_uniform(u[0], 2048, 9216), p.f = log_uniform(u[1], 1024, 4096);
      p.h = p.w = 1;
      if (u[2] >= policy.token_gemm_share)
        p.h = log_uniform((u[2] - policy.token_gemm_share) / (1.0 - policy.token_gemm_share), 4, 3136);
    } else {
      p.c = log_uniform(u[0], 8, 512);
      p.h = p.w = log_uniform(u[2], 4, 160);
      if (klass == "pool" && u[3] >= policy.global_pool_share) {
        // Global pools: one output per plane, the whole plane its window (a classifier's input).
        p.op = "global_avgpool";
      } else if (klass == "pool") {
        p.op = "maxpool";
        p.k = u[4] < 0.33 ? 2 : u[4] < 0.66 ? 3 : 5;
        p.stride = (p.k == 2 || u[3] < 0.5) ? 2 : 1;
      } else if (klass == "elementwise") {
        p.op = u[3] < policy.channel_scale_share ? "scale"
               : u[3] >= policy.affine_share   ? "affine"
               : u[3] >= policy.unary_math_share ? "gelu"
                                                 : "add";
      } else if (klass == "concat") {
        p.op = "concat";
        p.f = log_uniform(u[1], 8, 512);
        if (u[3] >= policy.many_input_concat_share) {
          // A dense block's concat: the block input and up to 64 layers' outputs of 8-64 channels.
          p.inputs = static_cast<int>(log_uniform(u[4], 8, 64));
          p.f = log_uniform(u[1], 8, 64);
          p.h = p.w = log_uniform(u[2], 4, 56);
        } else if (u[3] >= policy.many_input_concat_share - policy.inner_axis_concat_share) {
          // A detector head's concat along the last axis: 2-4 pieces of 1-128 floats per pixel.
          p.concat_axis = 2;
          p.inputs = static_cast<int>(log_uniform(u[4], 2, 4));
          p.c = log_uniform(u[0], 1, 128);
          p.f = log_uniform(u[1], 1, 128);
          p.h = p.w = log_uniform(u[2], 8, 80);
        }
      } else if (klass == "resize") {
        p.op = "resize";
      } else if (u[3] < policy.strided_copy_share / 2) {
        p.op = "transpose";
      } else if (u[3] < policy.strided_copy_share) {
        // A detector head's [1, h*w, c] rows split into two runs (YOLOv5: 85 = 2 + 2 + 81 floats).
        p.op = "split";
        p.c = log_uniform(u[0], 3, 128);
        p.f = std::clamp<int64_t>(log_uniform(u[1], 1, 64), 1, p.c - 1);
        p.h = p.w = log_uniform(u[2], 8, 80);
      } else {
        p.op = "copy";
      }
    }
    cap(p, policy);
    keep_in_class(p);
    pts.push_back(p);
  }
  // The real-network kinds first, alternating with plain points: on a loaded host a 120 s calibration
  // measured only the first 1-2 design points of a cell (the in-context runs and slow-phase waits took
  // the rest), and the in-context runs already cover plain shapes.
  std::vector<KernelPoint> kinds, plain, out;
  for (KernelPoint& p : pts) (is_real_network_kind(p) ? kinds : plain).push_back(std::move(p));
  // Each kind once before any twice: the elementwise design's first kinds were all standalone batch
  // norms, so no calibration measured a GELU (ConvNeXt's ran +21..+36%, priced from adds and affines).
  std::map<std::string, int> seen;
  std::vector<int> round(kinds.size());
  for (size_t i = 0; i < kinds.size(); ++i) round[i] = seen[real_network_kind(kinds[i])]++;
  std::vector<size_t> by_round(kinds.size());
  std::iota(by_round.begin(), by_round.end(), size_t{0});
  std::stable_sort(by_round.begin(), by_round.end(), [&](size_t a, size_t b) { return round[a] < round[b]; });
  std::vector<KernelPoint> spread;
  for (size_t i : by_round) spread.push_back(std::move(kinds[i]));
  kinds.swap(spread);
  // Per-pixel concats lead their kinds, the first two in a row: their per-run term is fitted only once
  // four samples carry it, the in-context runs have none, and a quiet 120 s calibration measured four
  // grid points of the class (these two and, between them in the grid's queue, two detector-head real
  // layers). Many-input concats have the dense-block real layers.
  std::vector<size_t> inner;
  for (size_t i = 0; i < kinds.size() && inner.size() < 2; ++i)
    if (kinds[i].op == "concat" && kinds[i].concat_axis != 1) inner.push_back(i);
  size_t ki = 0, pi = 0;
  if (inner.size() == 2) {
    KernelPoint a = std::move(kinds[inner[0]]), b = std::move(kinds[inner[1]]);
    kinds.erase(kinds.begin() + static_cast<long>(inner[1]));
    kinds.erase(kinds.begin() + static_cast<long>(inner[0]));
    kinds.insert(kinds.begin(), std::move(b));
    kinds.insert(kinds.begin(), std::move(a));
    out.push_back(std::move(kinds[ki++]));
  }
  while (ki < kinds.size() || pi < plain.size()) {
    if (ki < kinds.size()) out.push_back(std::move(kinds[ki++]));
    if (pi < plain.size()) out.push_back(std::move(plain[pi++]));
  }
  return out;
}

namespace {

// Real layer shapes of common mobile CNNs, in each model's order (one block of each kind where the
// model repeats it): the grid's real layers, and the phone's in-context runs.
struct RefConv {
  int64_t c, f, h, k, s, g;
  int act;
};
const RefConv* ref_convs() {
  // MobileNetV2 @224 (ReLU6 ~ ReLU), ResNet-18 @224, YOLOv5s-like @640 (SiLU).
  static const RefConv convs[] = {
      {3, 32, 224, 3, 2, 1, 1},     {32, 32, 112, 3, 1, 32, 1},   {32, 16, 112, 1, 1, 1, 0},   {16, 96, 112, 1, 1, 1, 1},
      {96, 96, 112, 3, 2, 96, 1},   {96, 24, 56, 1, 1, 1, 0},     {24, 144, 56, 1, 1, 1, 1},   {144, 144, 56, 3, 1, 144, 1},
      {144, 24, 56, 1, 1, 1, 0},    {144, 144, 56, 3, 2, 144, 1}, {144, 32, 28, 1, 1, 1, 0},   {32, 192, 28, 1, 1, 1, 1},
      {192, 192, 28, 3, 1, 192, 1}, {192, 32, 28, 1, 1, 1, 0},    {192, 64, 14, 1, 1, 1, 0},   {64, 384, 14, 1, 1, 1, 1},
      {384, 384, 14, 3, 1, 384, 1}, {384, 64, 14, 1, 1, 1, 0},    {384, 96, 14, 1, 1, 1, 0},   {96, 576, 14, 1, 1, 1, 1},
      {576, 576, 14, 3, 2, 576, 1}, {576, 160, 7, 1, 1, 1, 0},    {160, 960, 7, 1, 1, 1, 1},   {960, 960, 7, 3, 1, 960, 1},
      {960, 320, 7, 1, 1, 1, 0},    {320, 1280, 7, 1, 1, 1, 1},   {3, 64, 224, 7, 2, 1, 1},    {64, 64, 56, 3, 1, 1, 1},
      {64, 128, 56, 3, 2, 1, 1},    {64, 128, 56, 1, 2, 1, 0},    {128, 128, 28, 3, 1, 1, 1},  {128, 256, 28, 3, 2, 1, 1},
      {256, 256, 14, 3, 1, 1, 1},   {256, 512, 14, 3, 2, 1, 1},   {512, 512, 7, 3, 1, 1, 1},   {3, 32, 640, 6, 2, 1, 2},
      {32, 64, 320, 3, 2, 1, 2},    {64, 32, 160, 1, 1, 1, 2},    {32, 32, 160, 3, 1, 1, 2},   {64, 128, 160, 3, 2, 1, 2},
      {128, 64, 80, 1, 1, 1, 2},    {64, 64, 80, 3, 1, 1, 2},     {128, 256, 80, 3, 2, 1, 2},  {256, 128, 40, 1, 1, 1, 2},
      {128, 128, 40, 3, 1, 1, 2},   {256, 512, 40, 3, 2, 1, 2},   {512, 256, 20, 1, 1, 1, 2},  {256, 256, 20, 3, 1, 1, 2},
      {1024, 512, 20, 1, 1, 1, 2},  {128, 255, 80, 1, 1, 1, 0},   {256, 255, 40, 1, 1, 1, 0},  {512, 255, 20, 1, 1, 1, 0},
      {960, 240, 1, 1, 1, 1, 1},    {240, 960, 1, 1, 1, 1, 0},    {72, 72, 56, 5, 2, 72, 1},   {240, 240, 14, 5, 1, 240, 2},
      // Grouped 3x3 convs of ResNeXt-101 32x8d (8 and 64 channels a group) and RegNetY-1.6GF (24), and
      // RegNetY's squeeze-excite 1x1s on 1x1 maps.
      {256, 256, 56, 3, 1, 32, 1},  {2048, 2048, 7, 3, 1, 32, 1}, {120, 120, 28, 3, 1, 5, 1},  {336, 336, 14, 3, 1, 14, 1},
      {336, 84, 1, 1, 1, 1, 1},     {84, 336, 1, 1, 1, 1, 0},
      // ConvNeXt-base: its 7x7 depthwise convs at 224 (56..7) and 96 (24, 3), its 2x2 s2 downsample
      // convs and its 4x4 s4 stem (no activation: a LayerNorm follows each).
      {256, 256, 28, 7, 1, 256, 0}, {1024, 1024, 3, 7, 1, 1024, 0}, {128, 128, 56, 7, 1, 128, 0}, {512, 512, 14, 7, 1, 512, 0},
      {1024, 1024, 7, 7, 1, 1024, 0}, {128, 128, 24, 7, 1, 128, 0}, {128, 256, 56, 2, 2, 1, 0}, {256, 512, 12, 2, 2, 1, 0},
      {3, 128, 224, 4, 4, 1, 0},    {512, 1024, 14, 2, 2, 1, 0}};
  return convs;
}

// A memory-bound layer in the grid's own terms: op, channels c (concat: of the first input, f of each
// other one), map h x h, maxpool window k and stride s; concat: k more inputs after the first (0: one
// more) and s its axis.
struct Mem {
  const char* op;
  int64_t c, f, h, k, s;
};

// The grid point of a memory row, its class the one instance_of() gives (one feature source).
KernelPoint mem_point(const Mem& m, int threads) {
  KernelPoint p;
  p.op = m.op;
  p.threads = threads;
  p.c = m.c, p.f = m.f, p.h = p.w = m.h, p.k = m.k, p.stride = m.s;
  if (p.op == "concat" && m.k > 0) p.inputs = static_cast<int>(m.k) + 1, p.k = 0;
  if (p.op == "concat" && m.s > 1) p.concat_axis = static_cast<int>(m.s), p.stride = 1;
  p.klass = instance_of(p).klass;
  return p;
}

// A model's memory-bound layers in context: `count` alike rows of `m`, run after the model's first
// `after` conv rows (after == the model's row count: after every conv, before the classifier). The
// conv rows hold one block of each kind, these every add, pool, concat, resize and flatten copy the zoo
// graph runs, so that the phone's in-context samples of those classes weigh as the executor's do.
struct RefMem {
  size_t after;
  int count;
  Mem m;
};
// ResNet-18 @224: the stem's max pool, two residual Adds a stage (the block's output shape; the Relu
// after each fuses into it), the global pool and the Flatten before the classifier.
const RefMem kResNet18Mems[] = {
    {1, 1, {"maxpool", 64, 0, 112, 3, 2}}, {2, 2, {"add", 64, 0, 56, 0, 1}},     {5, 2, {"add", 128, 0, 28, 0, 1}},
    {7, 2, {"add", 256, 0, 14, 0, 1}},     {9, 2, {"add", 512, 0, 7, 0, 1}},     {9, 1, {"global_avgpool", 512, 0, 7, 0, 1}},
    {9, 1, {"copy", 512, 0, 1, 0, 1}}};
// MobileNetV2 @224: the Adds of the stride-1 blocks whose input and output widths agree (1 of the 24s,
// 2 of the 32s, 3 of the 64s, 2 of the 96s, 2 of the 160s), the global pool and the Flatten.
const RefMem kMobileNetV2Mems[] = {
    {9, 1, {"add", 24, 0, 56, 0, 1}},  {14, 2, {"add", 32, 0, 28, 0, 1}},  {18, 3, {"add", 64, 0, 14, 0, 1}},
    {20, 2, {"add", 96, 0, 14, 0, 1}}, {24, 2, {"add", 160, 0, 7, 0, 1}},  {26, 1, {"global_avgpool", 1280, 0, 7, 0, 1}},
    {26, 1, {"copy", 1280, 0, 1, 0, 1}}};
// YOLOv5s @640: each backbone C3's shortcut Adds (1, 2, 3, 1) and its concat of two halves; SPPF's three
// 5x5 s1 max pools and their 4-input concat (before its cv2, row 13); the neck's 2x upsamples, the
// concats with the backbone's maps and the neck C3s' concats, in the order the detect heads need them.
const RefMem kYolov5sMems[] = {
    {4, 1, {"add", 32, 0, 160, 0, 1}},       {4, 1, {"concat", 32, 32, 160, 0, 1}},
    {7, 2, {"add", 64, 0, 80, 0, 1}},        {7, 1, {"concat", 64, 64, 80, 0, 1}},
    {10, 3, {"add", 128, 0, 40, 0, 1}},      {10, 1, {"concat", 128, 128, 40, 0, 1}},
    {13, 1, {"add", 256, 0, 20, 0, 1}},      {13, 1, {"concat", 256, 256, 20, 0, 1}},
    {13, 3, {"maxpool", 256, 0, 20, 5, 1}},  {13, 1, {"concat", 256, 256, 20, 3, 1}},
    {14, 1, {"resize", 256, 0, 20, 0, 1}},   {14, 1, {"concat", 256, 256, 40, 0, 1}},
    {14, 1, {"concat", 128, 128, 40, 0, 1}}, {14, 1, {"resize", 128, 0, 40, 0, 1}},
    {14, 1, {"concat", 128, 128, 80, 0, 1}}, {14, 1, {"concat", 64, 64, 80, 0, 1}},
    {15, 2, {"concat", 128, 128, 40, 0, 1}}, {16, 2, {"concat", 256, 256, 20, 0, 1}}};

struct RefModel {
  const char* family;  // the zoo family whose in-context runs it stands for
  int64_t res;         // the input resolution its rows are at
  const RefConv* convs;
  size_t n;
  int64_t head_c, head_f;  // classifier GEMM after the convs (0: none)
  const RefMem* mems;      // its memory-bound layers in context (RefMem::after counts the rows above)
  size_t n_mems;
  // The whole zoo model's weights at width 1 (its canonical graph, dense): the rows above hold each kind
  // of layer once, but what a run reads between two uses of a layer's weights is all of them.
  int64_t weight_bytes_w1 = 0;
};
// Rows of ref_convs(): MobileNetV2 0-25, ResNet-18 26-34, the detector 35-51, then single layers of
// MobileNetV3, ResNeXt, RegNetY and ConvNeXt.
const RefModel kRefModels[] = {
    {"mobilenetv2_like", 224, ref_convs(), 26, 1280, 1000, kMobileNetV2Mems, std::size(kMobileNetV2Mems), 12500000},
    {"resnet18_like", 224, ref_convs() + 26, 9, 512, 1000, kResNet18Mems, std::size(kResNet18Mems), 48100000},
    {"yolov5s_like", 640, ref_convs() + 35, 17, 0, 0, kYolov5sMems, std::size(kYolov5sMems), 29550000},
    {"", 0, ref_convs() + 52, 20, 0, 0, nullptr, 0},
};

KernelPoint ref_conv_point(const RefConv& cv, int threads) {
  KernelPoint p;
  p.op = "conv";
  p.threads = threads;
  p.c = cv.c, p.f = cv.f, p.h = p.w = cv.h, p.k = cv.k, p.stride = cv.s, p.groups = cv.g, p.act = cv.act;
  p.klass = dense_setting_class(p.conv_shape());
  return p;
}

}  // namespace

std::vector<KernelPoint> reference_layers(const std::vector<std::string>& classes, int threads, const CalibrationPolicy& pol) {
  // A class's real layers are measured in this order, alternating with its design points, and a 120 s
  // calibration reaches only the first two or three of each: the kinds a term of their own depends on
  // (a detector head's per-pixel concat, pools of small maps) lead.
  static const Mem mems[] = {// YOLOv5n's detect head at 320 (s: the axis): xy, wh and 81 class scores
                             // of 3 anchors a pixel joined along the last axis, at strides 8, 16, 32.
                             {"concat", 81, 2, 69, 2, 2},   {"concat", 81, 2, 35, 2, 2},   {"concat", 81, 2, 17, 2, 2},
                             // Pools on small maps (YOLOv8's SPPF at 224, DenseNet's transitions).
                             {"maxpool", 256, 0, 7, 5, 1},  {"maxpool", 512, 0, 6, 2, 2},
                             {"maxpool", 64, 0, 112, 3, 2}, {"maxpool", 256, 0, 20, 5, 1}, {"maxpool", 128, 0, 40, 2, 2},
                             {"add", 24, 0, 56, 0, 1},      {"add", 32, 0, 28, 0, 1},      {"add", 64, 0, 56, 0, 1},
                             {"add", 96, 0, 14, 0, 1},      {"add", 160, 0, 7, 0, 1},      {"add", 128, 0, 28, 0, 1},
                             {"concat", 128, 128, 40, 0, 1}, {"concat", 64, 64, 80, 0, 1}, {"concat", 256, 256, 20, 0, 1},
                             {"resize", 256, 0, 20, 0, 1},  {"resize", 128, 0, 40, 0, 1},  {"copy", 512, 0, 7, 0, 1},
                             {"copy", 1280, 0, 1, 0, 1},
                             // DenseNet-161's standalone batch norms (k unused) and its block concats
                             // (k: inputs of f channels after a block input of c).
                             {"affine", 384, 0, 28, 0, 1},  {"affine", 1056, 0, 14, 0, 1},
                             // ConvNeXt-T's GELUs over its 4x expanded tokens (at 224: 384 x 56 x 56, ...).
                             {"gelu", 384, 0, 28, 0, 1},    {"gelu", 1536, 0, 7, 0, 1},
                             {"concat", 96, 48, 56, 6, 1},  {"concat", 384, 48, 14, 36, 1}};
  auto wanted = [&](const std::string& k) { return std::find(classes.begin(), classes.end(), k) != classes.end(); };
  std::vector<KernelPoint> pts, gemm_convs;
  std::set<std::string> seen;
  auto add = [&](KernelPoint p) {
    p.threads = threads;
    cap(p, pol);
    // Squeeze-excite convs run as GEMMs: after the gemm table, whose token GEMMs must lead.
    if (wanted(p.klass) && seen.insert(p.key()).second) (p.op == "conv" && p.klass == "gemm" ? gemm_convs : pts).push_back(p);
  };
  uint64_t i = 0;
  std::vector<RefConv> convs;
  for (const RefModel& m : kRefModels) convs.insert(convs.end(), m.convs, m.convs + m.n);
  for (const RefConv& cv : convs) {
    const KernelPoint p = ref_conv_point(cv, threads);
    add(p);
    // Sparse variants of the ungrouped layers; not of non-overlapping windows (what prunes a patchify
    // stem or a downsample is not what these formats are for).
    if (p.groups != 1 || (p.k > 1 && p.k == p.stride)) continue;
    const double u = std::fmod(static_cast<double>(++i) * 0.618034, 1.0);
    for (int fb : {1, 2, 4, 8, 16}) {
      KernelPoint q = p;
      q.klass = "sparse_fb" + std::to_string(fb);
      q.ratio = std::min(0.95, 0.3 + 0.65 * u);
      q.format = fb == 1 ? (q.k == 3 ? "pattern" : (q.k == 1 && q.stride == 1) ? "csr" : "block") : "block";
      q.entries = u < 0.5 ? 2 : 3;
      q.bf = fb;
      q.bc = 4;
      add(q);
    }
  }
  for (const Mem& m : mems) add(mem_point(m, threads));
  // Token GEMMs first (ConvNeXt-T's MLPs at 224, stage 3 and 4: a Linear over 196 and 49 tokens): the
  // in-context runs hold only one-row classifiers, whose MACs equal their weights, so without a
  // many-row GEMM among the first points a short calibration could not tell the per-MAC cost from the
  // per-weight one (a 120 s run that timed 9 one-row GEMMs priced token GEMMs at 10x).
  for (auto [c, f, rows] : {std::tuple<int64_t, int64_t, int64_t>{384, 1536, 196}, {768, 3072, 49}}) {
    KernelPoint p;
    p.op = "gemm", p.klass = "gemm", p.c = c, p.f = f, p.h = rows, p.w = 1;
    add(p);
  }
  // Classifier heads: L2-resident (512x1000 is 2 MiB) to far beyond the last-level cache (VGG's
  // 4096x4096 and 25088x4096 under the MAC cap: 9216x4096, AlexNet's).
  for (auto [c, f] : {std::pair<int64_t, int64_t>{1280, 1000}, {512, 1000}, {1024, 1000}, {256, 512}, {4096, 4096},
                      {9216, 4096}}) {
    KernelPoint p;
    p.op = "gemm", p.klass = "gemm", p.c = c, p.f = f, p.h = p.w = 1;
    add(p);
  }
  pts.insert(pts.end(), gemm_convs.begin(), gemm_convs.end());
  return pts;
}

std::vector<KernelPoint> neighbours(const KernelPoint& p, const CalibrationPolicy& pol) {
  std::vector<KernelPoint> out;
  for (auto [fc, fh] : {std::pair<double, double>{0.7, 1.0}, {1.4, 1.0}, {1.0, 0.7}, {1.0, 1.4}}) {
    KernelPoint q = p;
    q.c = std::max<int64_t>(p.op == "conv" && p.groups == 1 ? 3 : 8, std::llround(p.c * fc));
    if (p.groups > 1 && p.groups == p.c) {  // depthwise
      q.f = q.groups = q.c;
    } else if (p.groups > 1) {  // grouped: whole groups of the same width
      const int64_t width = p.c / p.groups;
      q.groups = std::max<int64_t>(2, std::llround(static_cast<double>(q.c) / static_cast<double>(width)));
      q.c = q.f = q.groups * width;
    }
    if (p.op != "conv" && p.op != "gemm") q.h = q.w = std::max<int64_t>(1, std::llround(p.h * fh));
    else if (p.op == "conv") q.h = q.w = std::max<int64_t>(p.k, std::llround(p.h * fh));
    else q.f = std::max<int64_t>(16, std::llround(p.f * fh));
    if (q.format == "pattern" && q.k == 1 && q.c < 9) q.c = 9;
    // A split keeps both runs non-empty (its first run's f floats of c): a narrowed row with the old f
    // made the graph's second output negative and ended a calibration.
    if (q.op == "split") q.c = std::max<int64_t>(q.c, 2), q.f = std::clamp<int64_t>(q.f, 1, q.c - 1);
    cap(q, pol);
    keep_in_class(q);
    if (q.key() != p.key()) out.push_back(q);
  }
  return out;
}

kernels::SparseFormat sparse_format(const KernelPoint& p) {
  kernels::SparseFormat f;
  f.bf = p.bf, f.bc = p.bc, f.entries = p.entries, f.ratio = p.ratio;
  if (p.format == "block") f.kind = kernels::SparseKind::kBlock;
  else if (p.format == "block_col") f.kind = kernels::SparseKind::kBlockCol;
  else if (p.format == "pattern") f.kind = kernels::SparseKind::kPattern;
  else if (p.format == "csr") f.kind = kernels::SparseKind::kCsr;
  else throw Error("calibration point '" + p.key() + "'", "format '" + p.format + "' is not a sparse format");
  return f;
}

int sparse_row_height(const KernelPoint& p) { return p.format == "dense" ? 1 : sparse_format(p).row_height(); }

int round_copies(const KernelPoint& p, const CalibrationPolicy& pol, int64_t llc_bytes) {
  const int64_t ws = std::max<int64_t>(1, p.working_set_bytes());
  if (ws >= pol.far_working_set_bytes)
    return static_cast<int>(std::clamp<int64_t>((pol.far_round_bytes + ws - 1) / ws, 1, std::max(1, pol.max_far_copies)));
  int64_t round = pol.cold_round_bytes;
  // 24 MiB rounds of 1-8 MiB weight sets were mostly served by a 32 MiB L3 yet counted as DRAM reads.
  if (p.weight_bytes() > model::kNearWeightBytes && llc_bytes > 0)
    round = std::min(round, static_cast<int64_t>(model::kLlcHoldsShare * static_cast<double>(llc_bytes)));
  return static_cast<int>(std::clamp<int64_t>(round / ws, 1, std::max(1, pol.max_copies)));
}

void place_round_operands(model::KernelInstance& k, const KernelPoint& p, const CalibrationPolicy& pol,
                         int64_t llc_bytes) {
  model::place_operands(k, round_copies(p, pol, llc_bytes) * std::max<int64_t>(1, p.working_set_bytes()), llc_bytes);
}

std::string ContextRun::key() const {
  return "ctx/" + model + "/" + (sparsity.empty() ? "dense" : sparsity) + "/t" + std::to_string(threads);
}

std::vector<ContextRun> context_runs(int max_threads) {
  // Variants of every zoo family in the order a budget reaches them: the families whose layers real
  // networks have most of dense, the settings a sparse prediction is most often asked about, the other
  // dense families, then the rest. Together they cover every sparse row height (fb 1, 2, 4, 8, 16) on
  // 1x1 and 3x3 layers. A 120 s calibration reaches about 15 runs on a quiet host and 8 on a busy one:
  // when every family's dense run came first, a busy host's calibration timed no sparse layer in context
  // and its sparse classes, fitted on 15-21 grid points, ran 1.5x over on real networks; when the sparse
  // settings came in columns after the dense runs, no block 8x4 run was reached even on a quiet host.
  const std::vector<std::pair<std::string, std::string>> order = {
      {"zoo:yolov5s_like@256x0.75", ""},
      {"zoo:resnet18_like@160x0.75", ""},
      {"zoo:mobilenetv2_like@192x1.5", ""},
      // Grouped convs, squeeze-excite and a classifier far beyond the cache, as RegNet/ResNeXt have.
      {"zoo:regnety_like@160x1", ""},
      // Pattern 2EP (R-TOSS) on a detector's 3x3 layers, block 8x4 (YOLObile) on its 3x3 and 1x1 SiLU
      // layers and on a deep net's 1x1, 3x3 and grouped ones, and 8-filter blocks on a mobile net's
      // pointwise layers. Without the detector's, block 8x4 was fitted on 1x1 and grouped layers alone and
      // dense-style 3x3 block-sparse layers (ResNet-34's, SqueezeNet's) ran at 1.5x their prediction.
      {"zoo:yolov5s_like@256x0.75", "pattern:2"},
      {"zoo:yolov5s_like@256x0.75", "block:8x4@0.6"},
      {"zoo:regnety_like@160x1", "block:8x4@0.7"},
      {"zoo:mobilenetv2_like@192x1.5", "block:8x8@0.75"},
      // A full-resolution ImageNet network: residual Adds of 2.4-9.6 MiB (beyond L2; every other run's
      // stay under 1.7 MiB and Adds of real 224x224 networks ran 28% over the near rate), 1x1 convs of
      // 256-2048 channels in a deep model, a 2048-channel global pool and an 8 MiB classifier.
      {"zoo:resnet50_like@224x1", ""},
      {"zoo:yolov5s_like@384x0.5", ""},
      {"zoo:resnet18_like@256x0.5", ""},
      {"zoo:mobileone_s0@256x0.75", ""},
      {"zoo:vgg_like@160x0.75", ""},
      // What a latency-bound planner reaches for: fine blocks at high ratios, where fixed per-tile
      // costs (stride phases, epilogue) outweigh the few kept columns.
      {"zoo:yolov5s_like@256x0.75", "block:4x1@0.95"},
      // Unstructured pruning of pointwise layers, what CSR is for: without it the one-filter rows were
      // fitted on 3x3 pattern layers and a handful of 1x1 downsamples, and a MobileNet at 0.9 ran 30%
      // over the extrapolated per-row costs.
      {"zoo:mobilenetv2_like@160x1.25", "csr@0.8"},
      {"zoo:yolov5s_like@384x0.5", "block:16x4@0.8"},
      {"zoo:resnet18_like@160x0.75", "block:4x1@0.9"},
      {"zoo:yolov5s_like@384x0.5", "block:4x1@0.6"},
      {"zoo:resnet18_like@160x0.75", "pattern:3"},
      {"zoo:resnet18_like@256x0.5", "block:32x8@0.85"},
      {"zoo:mobileone_s0@256x0.75", "block:4x8@0.9"},
      {"zoo:vgg_like@160x0.75", "block:16x8@0.5"},
      {"zoo:regnety_like@160x1", "pattern:2"},
      {"zoo:yolov5s_like@384x0.5", "block:4x4@0.5"},
      {"zoo:resnet18_like@160x0.75", "block:2x4@0.7"},
      {"zoo:resnet18_like@256x0.5", "csr@0.85"},
      {"zoo:mobilenetv2_like@192x1.5", "block:1x4@0.6"},
      {"zoo:mobileone_s0@256x0.75", "pattern:2"},
      {"zoo:vgg_like@160x0.75", "pattern:3"},
      {"zoo:yolov5s_like@256x0.75", "block:8x1@0.85"},
      {"zoo:resnet18_like@160x0.75", "block:8x2@0.95"},
      {"zoo:yolov5s_like@384x0.5", "block:8x1@0.4"},
      {"zoo:mobilenetv2_like@160x1.25", "csr@0.95"},
  };
  // Threads innermost: a budget that ends early still leaves every calibrated thread count with
  // in-context samples of the same layers.
  std::vector<ContextRun> runs;
  for (const auto& [model, spec] : order)
    for (int t = 1; t <= max_threads; ++t) runs.push_back({model, spec, t});
  return runs;
}

namespace {

// A uniform sparsity text (the executor's grammar: block:BFxBC@R, block_col:BFxBC@R, pattern:N,
// csr@R) on a point; the phone binary links no runtime to parse it there.
void apply_sparsity(const std::string& spec, KernelPoint& p) {
  const std::string where = "in-context sparsity '" + spec + "'";
  try {
    const auto at = spec.find('@');
    if (spec.rfind("csr", 0) == 0 && at == 3) {
      p.format = "csr", p.ratio = std::stod(spec.substr(4));
    } else if (spec.rfind("pattern:", 0) == 0) {
      p.format = "pattern", p.entries = std::stoi(spec.substr(8));
    } else {
      const auto colon = spec.find(':'), x = spec.find('x');
      if (colon == std::string::npos || x == std::string::npos || at == std::string::npos) throw Error(where, "unknown form");
      p.format = spec.substr(0, colon);
      if (p.format != "block" && p.format != "block_col") throw Error(where, "unknown format");
      p.bf = std::stoi(spec.substr(colon + 1, x - colon - 1));
      p.bc = std::stoi(spec.substr(x + 1, at - x - 1));
      p.ratio = std::stod(spec.substr(at + 1));
    }
  } catch (const std::logic_error&) {
    throw Error(where, "malformed");
  }
}

}  // namespace

namespace {

// zoo:NAME@RESxWIDTH: the table's model of the family (nullptr: none), the resolution and the width.
const RefModel* parse_context_model(const ContextRun& r, double* res, double* width) {
  const auto at = r.model.find('@'), x = r.model.find('x', at == std::string::npos ? 0 : at);
  if (r.model.rfind("zoo:", 0) != 0 || at == std::string::npos || x == std::string::npos)
    throw Error("in-context model '" + r.model + "'", "expected zoo:NAME@RESxWIDTH");
  const std::string family = r.model.substr(4, at - 4);
  try {
    *res = std::stod(r.model.substr(at + 1, x - at - 1));
    *width = std::stod(r.model.substr(x + 1));
  } catch (const std::logic_error&) {
    throw Error("in-context model '" + r.model + "'", "expected zoo:NAME@RESxWIDTH");
  }
  for (const RefModel& rm : kRefModels)
    if (family == rm.family) return &rm;
  return nullptr;
}

}  // namespace

int64_t context_weight_bytes(const ContextRun& r) {
  double res = 0, width = 0;
  const RefModel* m = parse_context_model(r, &res, &width);
  return m ? std::llround(static_cast<double>(m->weight_bytes_w1) * width * width) : 0;
}

int64_t context_reuse_bytes(const ContextRun& r) {
  int64_t peak = 0;  // the largest conv's input and output: the live activations at their peak
  for (const KernelPoint& p : context_layers(r))
    if (p.op == "conv") peak = std::max(peak, p.working_set_bytes() - p.weight_bytes());
  const int64_t w = context_weight_bytes(r);
  return w > 0 ? w + peak : 0;
}

std::vector<KernelPoint> context_layers(const ContextRun& r) {
  double res = 0, width = 0;
  const RefModel* m = parse_context_model(r, &res, &width);
  std::vector<KernelPoint> out;
  if (!m) return out;
  // Channels follow the width in the zoo's steps of 8 (a 3-channel image and a detector's 255 outputs
  // stay), maps the resolution.
  auto ch = [&](int64_t c) {
    return c == 3 || c == 255 ? c : std::max<int64_t>(8, std::llround(static_cast<double>(c) * width / 8.0) * 8);
  };
  auto scaled = [&](int64_t h) { return std::llround(static_cast<double>(h) * res / static_cast<double>(m->res)); };
  size_t next_mem = 0;
  // The memory rows that run before conv row i (i == m->n: after the last conv).
  auto mems_before = [&](size_t i) {
    for (; next_mem < m->n_mems && m->mems[next_mem].after <= i; ++next_mem) {
      const RefMem& rm = m->mems[next_mem];
      KernelPoint p = mem_point(rm.m, r.threads);
      p.c = ch(p.c);
      if (p.op == "concat") p.f = ch(p.f);
      // A flattened vector (h 1) stays one pixel; a map follows the resolution.
      if (p.h > 1) p.h = p.w = std::max<int64_t>(1, scaled(p.h));
      out.insert(out.end(), static_cast<size_t>(rm.count), p);
    }
  };
  for (size_t i = 0; i < m->n; ++i) {
    mems_before(i);
    KernelPoint p = ref_conv_point(m->convs[i], r.threads);
    const bool depthwise = p.groups > 1 && p.groups == p.c;
    p.c = ch(p.c), p.f = ch(p.f);
    if (depthwise) p.groups = p.f = p.c;
    p.h = p.w = std::max<int64_t>(p.k, scaled(p.h));
    p.klass = dense_setting_class(p.conv_shape());  // at this width and resolution (a small plane's 1x1 is a gemm)
    if (!r.sparsity.empty() && p.groups == 1) {
      KernelPoint q = p;
      apply_sparsity(r.sparsity, q);
      // As the executor applies a uniform spec: to every conv its format can run, the rest stay dense.
      if (kernels::sparse_format_problem(q.conv_shape(), sparse_format(q)).empty()) {
        q.klass = "sparse_fb" + std::to_string(sparse_row_height(q));
        p = q;
      }
    }
    out.push_back(p);
  }
  mems_before(m->n);
  if (m->head_c > 0) {
    KernelPoint g;
    g.op = "gemm", g.klass = "gemm", g.threads = r.threads, g.c = ch(m->head_c), g.f = m->head_f, g.h = g.w = 1;
    out.push_back(g);
  }
  return out;
}

model::KernelInstance instance_of(const KernelPoint& p) {
  model::KernelInstance k;
  k.threads = p.threads;
  if (p.op == "conv") {
    const kernels::ConvShape s = p.conv_shape();
    if (p.format == "dense" && kernels::dense_conv_gemm_rows(s) > 0) {
      k = model::conv_gemm_instance(s, p.threads, true);  // as model::conv_op_instance prices it
      if (p.act == 2) k.act_bytes = k.out_bytes;
      return k;
    }
    if (p.format == "dense") {
      k.klass = dense_setting_class(s);
    } else {
      k.klass = "sparse_fb" + std::to_string(sparse_row_height(p));
    }
    // The footprint predictions use (conv_op_instance), not the figures this mask gave the kernel:
    // a profile is fitted on the features it will be asked about, as the executor backend's samples are.
    const model::SparseFootprint fp = model::conv_footprint(s, p.format, p.ratio, p.bf, p.bc, p.entries, true);
    k = model::conv_instance(k.klass, s, p.threads, fp.executed_macs, fp.weight_bytes);
    if (p.act == 2) k.act_bytes = k.out_bytes;
    return k;
  }
  if (p.op == "gemm") return model::gemm_instance(p.h, p.f, p.c, p.threads, true);
  // The memory-bound kernels' features as the cost model forms them for an op (model::op_instance).
  const int64_t plane = p.h * p.w * 4;
  if (p.op == "maxpool") {
    kernels::Pool2dShape ps;
    ps.c = p.c, ps.h = ps.w = p.h, ps.kh = ps.kw = p.k, ps.stride_h = ps.stride_w = p.stride;
    ps.pad_top = ps.pad_left = ps.pad_bottom = ps.pad_right = pool_pad(p);
    ps.out_h = ps.out_w = out_dim(p.h, p.k, p.stride, pool_pad(p));
    k = model::memory_instance("pool", p.c * plane, p.c * ps.out_h * ps.out_w * 4, p.threads);
    const kernels::PoolWork pw = kernels::pool2d_work(ps);
    k.window_ops = pw.ops, k.strided_window_ops = pw.strided_ops, k.rows = pw.rows;
    return k;
  }
  if (p.op == "global_avgpool") {
    k = model::memory_instance("pool", p.c * plane, p.c * 4, p.threads);
    k.window_ops = p.c * p.h * p.w;  // each input element read once
    k.rows = p.c;
    return k;
  }
  if (p.op == "add") return model::memory_instance("elementwise", 2 * p.c * plane, p.c * plane, p.threads);
  if (p.op == "scale")  // the scale is an input the graph computes (squeeze-excite's sigmoid)
    return model::memory_instance("elementwise", p.c * plane + p.c * 4, p.c * plane, p.threads);
  if (p.op == "gelu") {
    k = model::memory_instance("elementwise", p.c * plane, p.c * plane, p.threads);
    k.act_bytes = k.out_bytes;  // an erf per element
    return k;
  }
  if (p.op == "affine") {  // a standalone BatchNormalization: its four statistics are the weights
    k = model::memory_instance("elementwise", p.c * plane, p.c * plane, p.threads);
    k.weight_bytes = 4 * p.c * 4;
    return k;
  }
  if (p.op == "concat") {
    k = model::memory_instance("concat", p.concat_channels() * plane, p.concat_channels() * plane, p.threads);
    k.inputs = p.inputs;
    if (p.concat_axis != 1) k.extra_runs = p.inputs * (p.h * p.w - 1);
    return k;
  }
  if (p.op == "resize") {
    k = model::memory_instance("resize", p.c * plane, 4 * p.c * plane, p.threads);
    k.rows = p.c * 2 * p.h;  // a 2x upsample: output rows of every plane
    return k;
  }
  if (p.op == "copy" || p.op == "transpose" || p.op == "split") {
    k = model::memory_instance("copy", p.c * plane, p.c * plane, p.threads);
    for (const auto& c : point_copies(p)) k.rows += kernels::strided_copy_loops(c);  // none for a Flatten
    return k;
  }
  throw Error("calibration grid", "unknown op '" + p.op + "'");
}

std::vector<kernels::StridedCopy> point_copies(const KernelPoint& p) {
  if (p.op == "transpose") return {kernels::make_transpose({1, p.c, p.h, p.w}, {0, 2, 3, 1})};
  if (p.op != "split") return {};
  const std::vector<int64_t> in = {1, p.h * p.w, p.c};
  return {kernels::make_slice(in, {0, 0, 0}, {1, 1, 1}, {1, p.h * p.w, p.f}),
          kernels::make_slice(in, {0, 0, p.f}, {1, 1, 1}, {1, p.h * p.w, p.c - p.f})};
}

}  // namespace hilsim::calibration

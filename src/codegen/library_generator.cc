#include "hilsim/codegen/library_generator.h"

#include <algorithm>
#include <climits>
#include <iterator>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <sstream>

#include "hilsim/codegen/kernel_header.h"
#include "hilsim/kernels/conv_desc.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/format_rules.h"
#include "hilsim/runtime/memory_plan.h"
#include "hilsim/runtime/op_lowering.h"
#include "hilsim/util/error.h"

namespace hilsim::codegen {

using graph::Graph;
using graph::Op;
using graph::Shape;

std::string ConvVariant::str() const {
  if (runtime()) return "runtime";
  return "fb" + std::to_string(fb) + "_nv" + std::to_string(nv) + "_b" + std::to_string(block_tiles);
}

std::vector<ConvVariant> conv_variants(bool row_height_free, int packed_fb) {
  // The runtime's prepared kernel first: the default, and what the profile was calibrated on.
  std::vector<ConvVariant> v = {ConvVariant::runtime_kernel()};
  const std::vector<int> fbs = row_height_free ? std::vector<int>{8, 4} : std::vector<int>{packed_fb};
  for (int fb : fbs)
    for (int nv = 1; nv <= 4; ++nv) {
      if (fb * nv > 24 || (fb >= 16 && nv > 1) || (fb >= 4 && nv > 3)) continue;
      for (int bt : {0, 4, 16}) v.push_back({fb, nv, bt});
    }
  return v;
}

namespace {

constexpr int64_t kAlign = 64;
// hilsim_model_set_threads' bound: past it a count is surely a mistake, not a machine.
constexpr int kMaxThreads = 256;
int64_t align_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

struct Blob {
  std::string bytes;
  int64_t put(const void* p, size_t n) {
    bytes.resize(static_cast<size_t>(align_up(static_cast<int64_t>(bytes.size()))), '\0');
    const int64_t at = static_cast<int64_t>(bytes.size());
    bytes.append(static_cast<const char*>(p), n);
    return at;
  }
  template <class T>
  int64_t put(const std::vector<T>& v) { return put(v.data(), v.size() * sizeof(T)); }
};

std::string where_of(const Op& op) { return "op '" + op.name + "' (" + op.type + ")"; }

[[noreturn]] void unsupported(const Op& op, const std::string& why) {
  throw Error(where_of(op), "not supported by the library generator yet: " + why + " (`hilsim run` executes it)");
}

const char* act_enum(kernels::Act a) {
  switch (a) {
    case kernels::Act::kNone: return "hsk::kNone";
    case kernels::Act::kRelu: return "hsk::kRelu";
    case kernels::Act::kClip: return "hsk::kClip";
    case kernels::Act::kSigmoid: return "hsk::kSigmoid";
    case kernels::Act::kSiLU: return "hsk::kSiLU";
    case kernels::Act::kHardSwish: return "hsk::kHardSwish";
    case kernels::Act::kHardSigmoid: return "hsk::kHardSigmoid";
  }
  return "hsk::kNone";
}

std::string flt(float v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.9gf", static_cast<double>(v));
  std::string s = b;
  if (s.find_first_of(".en") == std::string::npos) s.insert(s.size() - 1, ".0");
  if (s == "inff") return "INFINITY";
  if (s == "-inff") return "-INFINITY";
  return s;
}

std::string act_params(const kernels::Epilogue& e) {
  if (e.act == kernels::Act::kClip) return "hsk::ActParams{" + flt(e.min) + ", " + flt(e.max) + "}";
  if (e.act == kernels::Act::kHardSigmoid) return "hsk::ActParams{" + flt(e.alpha) + ", " + flt(e.beta) + "}";
  return "hsk::ActParams{0.0f, 0.0f}";
}

// A conv as rows, in run order, ready for the blob.
struct ConvRows {
  int fb = 1;
  std::vector<int32_t> table;  // per row: first filter, filters, first column, columns
  std::vector<int32_t> off;    // per column: input offset
  std::vector<float> values;   // per column: fb values
  std::vector<float> bias;     // per row: fb values
  int64_t kept = 0;            // multiplies per output pixel (real filters only)
};

// Where input column (channel ch, ky, kx) starts, in the phased input or in the input itself.
struct Geometry {
  bool direct = false;  // 1x1, stride 1, no padding: the input is read in place, all pixels as one row
  int64_t hq = 0, wq = 0;
  int64_t oh = 0, ow = 0, x_row = 0;  // x_row: floats between output rows in x (the phased width)
  int64_t scratch_floats = 0;
  const kernels::ConvShape* s = nullptr;
  int64_t offset(int64_t ch, int64_t ky, int64_t kx) const {
    if (direct) return ch * s->h * s->w;
    const int64_t dy = ky * s->dil_h, dx = kx * s->dil_w;
    return ((ch * s->stride_h + dy % s->stride_h) * s->stride_w + dx % s->stride_w) * hq * wq + (dy / s->stride_h) * wq +
           dx / s->stride_w;
  }
};

// `in_place_ok`: the input lies in the workspace, whose slack a tile's dropped lanes may read; the
// caller's input buffer has none, so a conv on it always reads a phased copy.
Geometry geometry_of(const kernels::ConvShape& s, bool in_place_ok) {
  Geometry g;
  g.s = &s;
  g.direct = in_place_ok && s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 && s.pad_left == 0 &&
             s.pad_bottom == 0 && s.pad_right == 0;
  if (g.direct) {
    g.oh = 1, g.ow = s.h * s.w, g.x_row = g.ow;
    return g;
  }
  g.hq = (s.h + s.pad_top + s.pad_bottom + s.stride_h - 1) / s.stride_h;
  g.wq = (s.w + s.pad_left + s.pad_right + s.stride_w - 1) / s.stride_w;
  g.oh = s.out_h(), g.ow = s.out_w(), g.x_row = g.wq;
  // Tiles past the last phased row read up to a row and a tile beyond it (dropped lanes).
  g.scratch_floats = s.c * s.stride_h * s.stride_w * g.hq * g.wq + g.wq + 128;
  return g;
}

// A dense, grouped or depthwise conv packed here: rows of fb filters of one group, all its columns.
ConvRows pack_dense(const kernels::ConvShape& s, const Geometry& geo, const std::vector<float>& w,
                    const std::vector<float>& bias, int want_fb) {
  ConvRows r;
  const int64_t fpg = s.f / s.groups, cpg = s.c / s.groups, taps = s.kh * s.kw;
  r.fb = 1;
  for (int fb : {16, 8, 4, 2, 1})
    if (fb <= want_fb && fpg % fb == 0) { r.fb = fb; break; }
  if (s.groups == 1) r.fb = want_fb;  // rows past f are padded with zero filters and not stored
  for (int64_t f0 = 0; f0 < s.f; f0 += r.fb) {
    const int64_t nf = std::min<int64_t>(r.fb, s.f - f0), g = f0 / fpg;
    r.table.insert(r.table.end(), {static_cast<int32_t>(f0), static_cast<int32_t>(nf),
                                   static_cast<int32_t>(r.off.size()), static_cast<int32_t>(cpg * taps)});
    for (int64_t cl = 0; cl < cpg; ++cl)
      for (int64_t ky = 0; ky < s.kh; ++ky)
        for (int64_t kx = 0; kx < s.kw; ++kx) {
          r.off.push_back(static_cast<int32_t>(geo.offset(g * cpg + cl, ky, kx)));
          for (int fi = 0; fi < r.fb; ++fi)
            r.values.push_back(fi < nf ? w[static_cast<size_t>((((f0 + fi) * cpg + cl) * s.kh + ky) * s.kw + kx)] : 0.0f);
        }
    for (int fi = 0; fi < r.fb; ++fi) r.bias.push_back(fi < nf ? bias[static_cast<size_t>(f0 + fi)] : 0.0f);
    r.kept += nf * cpg * taps;
  }
  return r;
}

// A sparse conv as the plan packed it: its rows in their balanced order, columns turned into offsets.
ConvRows from_packed(const kernels::ConvShape& s, const Geometry& geo, const partition::PackedConv& pc) {
  ConvRows r;
  const kernels::SparseRows& sr = pc.rows;
  r.fb = sr.fb;
  for (int32_t row : sr.order) {
    const int64_t f0 = static_cast<int64_t>(row) * sr.fb, nf = std::min<int64_t>(sr.fb, s.f - f0);
    const int32_t b = sr.row_begin[static_cast<size_t>(row)], e = sr.row_begin[static_cast<size_t>(row) + 1];
    r.table.insert(r.table.end(), {static_cast<int32_t>(f0), static_cast<int32_t>(nf), static_cast<int32_t>(r.off.size()), e - b});
    for (int32_t j = b; j < e; ++j) {
      const int64_t col = sr.cols[static_cast<size_t>(j)];
      const int64_t ch = col / (s.kh * s.kw), ky = col / s.kw % s.kh, kx = col % s.kw;
      r.off.push_back(static_cast<int32_t>(geo.offset(ch, ky, kx)));
      for (int fi = 0; fi < sr.fb; ++fi) r.values.push_back(sr.values[static_cast<size_t>(j) * sr.fb + fi]);
    }
    for (int fi = 0; fi < sr.fb; ++fi) r.bias.push_back(fi < nf ? pc.bias[static_cast<size_t>(f0 + fi)] : 0.0f);
    r.kept += nf * (e - b);
  }
  return r;
}

class Generator {
 public:
  Generator(const Graph& g, const partition::PackedModel& packed, const std::map<std::string, ConvVariant>& variants,
            bool harness)
      : g_(g), variants_(variants), harness_(harness) {
    for (const auto& pc : packed.convs) packed_[pc.op] = &pc;
  }

  GeneratedLibrary run();

 private:
  std::string buf(const std::string& tensor);          // expression for a tensor's floats
  std::string cbuf(const Op& op, size_t i);            // an input: buffer or blob constant
  void gen_op(const Op& op, std::ostringstream& fn);
  void gen_conv(const Op& op, std::ostringstream& fn);
  bool gen_native(const Op& op, std::ostringstream& fn, GeneratedOp* info);
  void gen_gemm(const Op& op, std::ostringstream& fn);
  std::string conv_body(const Op& op, const kernels::ConvShape& s, const Geometry& geo, const ConvVariant& v,
                        GeneratedOp* info);
  std::string runtime_conv_body(const Op& op, const kernels::ConvShape& s, GeneratedOp* info);

  const Graph& g_;
  const std::map<std::string, ConvVariant>& variants_;
  bool harness_;
  std::map<std::string, const partition::PackedConv*> packed_;
  Blob blob_;
  std::map<std::string, int64_t> const_at_;     // constant tensor -> blob offset
  struct PackedAt {
    int fb;
    int64_t rows, kept, table, off, values, bias;  // blob offsets of the conv's arrays
  };
  std::map<std::pair<std::string, int>, PackedAt> packed_at_;
  std::map<std::string, std::string> where_;    // tensor -> expression
  std::map<std::string, std::pair<std::string, int64_t>> in_place_;  // concat input -> (its output, offset)
  int64_t scratch_floats_ = 0;
  std::vector<GeneratedOp> ops_;
  std::ostringstream tune_;                     // the tuning harness's per-variant functions
  std::vector<std::vector<std::string>> tune_fns_;
  struct RuntimeConv {
    int index;
    std::string kernel;
    int64_t macs_executed;
  };
  std::map<std::string, RuntimeConv> runtime_convs_;  // op -> its prepared kernel in the library
  std::ostringstream prepare_;                        // the code that prepares them, once per process
};

std::string Generator::buf(const std::string& t) {
  auto it = where_.find(t);
  if (it == where_.end()) throw Error("tensor '" + t + "'", "has no buffer in the generated library");
  return it->second;
}

std::string Generator::cbuf(const Op& op, size_t i) {
  const std::string& t = op.inputs.at(i);
  if (g_.is_constant(t)) {
    const graph::Tensor* c = g_.constant(t);
    if (c->dtype != graph::DType::kFloat32) unsupported(op, "a non-float constant input '" + t + "'");
    auto it = const_at_.find(t);
    if (it == const_at_.end()) it = const_at_.emplace(t, blob_.put(c->f32)).first;
    return "F(" + std::to_string(it->second) + ")";
  }
  return buf(t);
}

std::string Generator::conv_body(const Op& op, const kernels::ConvShape& s, const Geometry& geo, const ConvVariant& v,
                                 GeneratedOp* info) {
  if (v.runtime()) return runtime_conv_body(op, s, info);
  // Generated variants read a phased copy of the input from the scratch after the arena.
  scratch_floats_ = std::max(scratch_floats_, geo.scratch_floats);
  // The blob holds each (op, row height) once: the tuning harness's variants share their weights.
  const std::pair<std::string, int> key{op.name, packed_.count(op.name) ? 0 : v.fb};
  auto cached = packed_at_.find(key);
  ConvRows r;
  auto pit = packed_.find(op.name);
  if (cached != packed_at_.end()) {
    r.fb = cached->second.fb;
  } else if (pit != packed_.end()) {
    r = from_packed(s, geo, *pit->second);
  } else {
    const graph::Tensor* w = g_.constant(op.inputs[1]);
    if (!w) unsupported(op, "weights that are not a constant");
    std::vector<float> bias(static_cast<size_t>(s.f), 0.0f);
    if (auto b = op.input(2)) {
      const graph::Tensor* bt = g_.constant(*b);
      if (!bt || bt->f32.size() != bias.size()) unsupported(op, "a bias that is not a constant of F values");
      bias = bt->f32;
    }
    r = pack_dense(s, geo, w->f32, bias, v.fb);
  }
  const int nv = std::clamp(v.nv, 1, 4);
  const kernels::Epilogue ep = runtime::epilogue_of(op);
  if (cached == packed_at_.end()) {
    PackedAt at{r.fb, static_cast<int64_t>(r.table.size() / 4), r.kept, blob_.put(r.table), blob_.put(r.off),
                blob_.put(r.values), blob_.put(r.bias)};
    cached = packed_at_.emplace(key, at).first;
  }
  const PackedAt& pa = cached->second;
  const int64_t t_at = pa.table, o_at = pa.off, w_at = pa.values, b_at = pa.bias;
  std::ostringstream o;
  const std::string x = cbuf(op, 0), y = buf(op.outputs[0]);
  std::string src = x;
  if (!geo.direct) {
    o << "  hsk::phase_pack(" << x << ", scratch, " << s.c << ", " << s.h << ", " << s.w << ", " << s.stride_h << ", "
      << s.stride_w << ", " << s.pad_top << ", " << s.pad_left << ", " << geo.hq << ", " << geo.wq << ");\n";
    src = "scratch";
  }
  const std::string kernel = "hsk::conv_rows<" + std::to_string(pa.fb) + ", " + std::to_string(nv) + ", " +
                             act_enum(ep.act) + ", " + std::to_string(v.block_tiles) + ">";
  // Rows are independent (each writes its own filters): the library's threads split them, longest
  // first as packed, handed out dynamically so uneven rows balance.
  o << "  pool().parallel_for(" << pa.rows << ", [&](size_t r0, size_t r1) {\n"
    << "    " << kernel << "(" << src << ", " << y << ", I(" << t_at << ") + 4 * r0, static_cast<int>(r1 - r0), I("
    << o_at << "), F(" << w_at << "), F(" << b_at << ") + r0 * " << pa.fb << ", " << geo.oh << ", " << geo.ow << ", "
    << geo.x_row << ", " << act_params(ep) << ");\n  });\n";
  if (info) {
    info->kernel = kernel;
    info->variant = {pa.fb, nv, v.block_tiles};
    info->macs_executed = pa.kept * s.out_h() * s.out_w();
  }
  return o.str();
}

std::string ep_code(const kernels::Epilogue& e) {
  return std::string("{") + "hsk_rt::Act::" + std::string(act_enum(e.act)).substr(5) + ", " + flt(e.min) + ", " +
         flt(e.max) + ", " + flt(e.alpha) + ", " + flt(e.beta) + "}";
}

std::string c_escape(const std::string& t) {
  std::string r;
  for (char ch : t) {
    if (ch == '"' || ch == '\\') r += '\\';
    if (static_cast<unsigned char>(ch) < 32) continue;
    r += ch;
  }
  return r;
}

std::string shape_code(const kernels::ConvShape& s) {
  std::ostringstream o;
  o << "    hsk_rt::ConvShape s;\n"
    << "    s.n = " << s.n << ", s.c = " << s.c << ", s.h = " << s.h << ", s.w = " << s.w << ", s.f = " << s.f
    << ", s.kh = " << s.kh << ", s.kw = " << s.kw << ";\n"
    << "    s.stride_h = " << s.stride_h << ", s.stride_w = " << s.stride_w << ", s.pad_top = " << s.pad_top
    << ", s.pad_left = " << s.pad_left << ", s.pad_bottom = " << s.pad_bottom << ", s.pad_right = " << s.pad_right
    << ";\n    s.dil_h = " << s.dil_h << ", s.dil_w = " << s.dil_w << ", s.groups = " << s.groups << ";\n";
  return o.str();
}

// The runtime's own kernel for a conv: prepared once per process from the blob (the same
// prepare_* call, with the same weights, as the executor makes), then run like the executor runs it.
std::string Generator::runtime_conv_body(const Op& op, const kernels::ConvShape& s, GeneratedOp* info) {
  auto it = runtime_convs_.find(op.name);
  if (it == runtime_convs_.end()) {
    RuntimeConv rc{static_cast<int>(runtime_convs_.size()), "", 0};
    const kernels::Epilogue ep = runtime::epilogue_of(op);
    std::ostringstream o;
    o << "  {  // " << op.type << " '" << op.name << "'\n" << shape_code(s) << "    const hsk_rt::Epilogue ep"
      << ep_code(ep) << ";\n";
    auto pit = packed_.find(op.name);
    if (pit != packed_.end()) {
      const partition::PackedConv& pc = *pit->second;
      const kernels::SparseRows& r = pc.rows;
      o << "    hsk_rt::SparseRows r;\n    r.fb = " << r.fb << ", r.f = " << r.f << ", r.c = " << r.c << ", r.kh = " << r.kh
        << ", r.kw = " << r.kw << ";\n"
        << "    r.row_begin.assign(I(" << blob_.put(r.row_begin) << "), I(" << blob_.bytes.size() << "));\n";
      const int64_t cols_at = blob_.put(r.cols);
      o << "    r.cols.assign(I(" << cols_at << "), I(" << blob_.bytes.size() << "));\n";
      const int64_t vals_at = blob_.put(r.values);
      o << "    r.values.assign(F(" << vals_at << "), F(" << blob_.bytes.size() << "));\n";
      const int64_t order_at = blob_.put(r.order);
      o << "    r.order.assign(I(" << order_at << "), I(" << blob_.bytes.size() << "));\n";
      const int64_t b_at = blob_.put(pc.bias);
      o << "    const hsk_rt::ConvDesc d{s, ep, hsk_rt::SparseFormat::from_name(\"" << pc.label << "\", \"" << c_escape(where_of(op))
        << "\")};\n    k.conv[" << rc.index << "] = hsk_rt::prepare_sparse_conv(d, std::move(r), F(" << b_at << "));\n";
      rc.kernel = "runtime " + pc.label;
      rc.macs_executed = r.kept_weights() * s.out_h() * s.out_w();
    } else {
      const graph::Tensor* w = g_.constant(op.inputs[1]);
      if (!w || static_cast<int64_t>(w->f32.size()) != s.weight_count()) unsupported(op, "weights that are not a constant of the conv's shape");
      const int64_t w_at = blob_.put(w->f32);
      std::string bias = "nullptr";
      if (auto b = op.input(2)) {
        const graph::Tensor* bt = g_.constant(*b);
        if (!bt || static_cast<int64_t>(bt->f32.size()) != s.f) unsupported(op, "a bias that is not a constant of F values");
        bias = "F(" + std::to_string(blob_.put(bt->f32)) + ")";
      }
      // The executor's rule (the depthwise kernels take every depthwise shape).
      const bool dw = runtime::conv_family(s, runtime::LayerSparsity{}) == runtime::ConvFamily::kDepthwise;
      o << "    k.conv[" << rc.index << "] = hsk_rt::prepare_" << (dw ? "depthwise" : "dense") << "_conv(s, F(" << w_at
        << "), " << bias << ", ep);\n";
      rc.kernel = dw ? "runtime depthwise_conv" : "runtime dense_conv";
      rc.macs_executed = s.macs();
    }
    o << "  }\n";
    prepare_ << o.str();
    it = runtime_convs_.emplace(op.name, rc).first;
  }
  if (info) {
    info->kernel = it->second.kernel;
    info->variant = ConvVariant::runtime_kernel();
    info->macs_executed = it->second.macs_executed;
  }
  return "  kernels().conv[" + std::to_string(it->second.index) + "]->run(" + cbuf(op, 0) + ", " + buf(op.outputs[0]) +
         ", pool());\n";
}

void Generator::gen_conv(const Op& op, std::ostringstream& fn) {
  const kernels::ConvShape s = runtime::conv_shape_of(g_, op);
  if (s.n != 1) unsupported(op, "batch " + std::to_string(s.n) + " (the library runs batch 1)");
  if (s.out_h() <= 0 || s.out_w() <= 0) unsupported(op, "an empty output");
  const Geometry geo = geometry_of(s, !g_.is_constant(op.inputs[0]) && buf(op.inputs[0]).rfind("(ws", 0) == 0);
  auto pit = packed_.find(op.name);
  GeneratedOp info;
  info.op = op.name, info.type = op.type, info.conv = true;
  info.row_height_free = pit == packed_.end();
  info.packed_fb = info.row_height_free ? 0 : pit->second->rows.fb;
  if (!info.row_height_free) {
    pit->second->rows.validate(s, where_of(op));
    if (s.groups != 1) unsupported(op, "packed sparse weights on a grouped conv");
  }
  ConvVariant v;
  auto vit = variants_.find(op.name);
  if (vit != variants_.end()) v = vit->second;
  else v = ConvVariant::runtime_kernel();
  if (!info.row_height_free && !v.runtime()) v.fb = info.packed_fb;
  fn << conv_body(op, s, geo, v, &info);
  if (harness_) {
    std::vector<std::string> names;
    const auto cands = conv_variants(info.row_height_free, info.packed_fb);
    for (size_t k = 0; k < cands.size(); ++k) {
      const std::string name = "tune" + std::to_string(tune_fns_.size()) + "_" + std::to_string(k);
      tune_ << "void " << name << "(const float* __restrict in, float* __restrict out, float* __restrict ws, float* "
            << "__restrict scratch) {\n"
            << conv_body(op, s, geo, cands[k], nullptr) << "}\n";
      names.push_back(name);
    }
    tune_fns_.push_back(names);
  }
  ops_.push_back(info);
}

std::string ints_code(const std::vector<int64_t>& v) {
  std::string r = "{";
  for (size_t i = 0; i < v.size(); ++i) r += (i ? ", " : "") + std::to_string(v[i]);
  return r + "}";
}

// An enumerator of the kernels' headers as generated code spells it; `names` follow the enum's order
// there (kernels/memory_ops.h, math_ops.h, layout_ops.h).
template <class E, size_t N>
std::string enum_code(const char* type, E v, const char* const (&names)[N]) {
  const size_t i = static_cast<size_t>(v);
  if (i >= N) throw Error("library generator", std::string("no name for ") + type + " value " + std::to_string(i));
  return std::string("hsk_rt::") + type + "::" + names[i];
}
constexpr const char* kBinaryNames[] = {"kAdd", "kMul", "kSub", "kDiv", "kMax", "kMin", "kFmod"};
constexpr const char* kUnaryNames[] = {"kErf", "kTanh", "kLeakyRelu", "kExp", "kSqrt", "kNeg",
                                       "kAbs", "kGelu", "kGeluTanh", "kSquare", "kPow"};
constexpr const char* kReduceNames[] = {"kMean", "kSum", "kMax"};
constexpr const char* kPadNames[] = {"kConstant", "kReflect", "kEdge"};
static_assert(std::size(kBinaryNames) == static_cast<size_t>(kernels::BinaryOp::kFmod) + 1);
static_assert(std::size(kUnaryNames) == static_cast<size_t>(kernels::UnaryOp::kPow) + 1);
static_assert(std::size(kReduceNames) == static_cast<size_t>(kernels::ReduceOp::kMax) + 1);
static_assert(std::size(kPadNames) == static_cast<size_t>(kernels::PadMode::kEdge) + 1);

std::string pool_code(const kernels::Pool2dShape& s) {
  std::ostringstream o;
  o << "[] {\n    hsk_rt::Pool2dShape s;\n    s.n = " << s.n << ", s.c = " << s.c << ", s.h = " << s.h << ", s.w = " << s.w
    << ", s.kh = " << s.kh << ", s.kw = " << s.kw << ";\n    s.stride_h = " << s.stride_h << ", s.stride_w = " << s.stride_w
    << ", s.pad_top = " << s.pad_top << ", s.pad_left = " << s.pad_left << ", s.pad_bottom = " << s.pad_bottom
    << ", s.pad_right = " << s.pad_right << ";\n    s.count_include_pad = " << (s.count_include_pad ? "true" : "false")
    << ", s.out_h = " << s.out_h << ", s.out_w = " << s.out_w << ";\n    return s;\n  }()";
  return o.str();
}

// The ops the runtime lowers onto its memory / layout / math kernels: the lowering's own parameter
// functions give the geometry, printed here as constants (long tables go to the blob), and the
// generated code calls the same kernel function the executor's closure calls. False when the op type
// is not one of them; a form their kernels do not take is refused, naming the op.
bool Generator::gen_native(const Op& op, std::ostringstream& fn, GeneratedOp* info) {
  const std::string& t = op.type;
  const auto refuse = [&]() { unsupported(op, "a form the runtime's native kernel does not take (it runs the reference)"); };
  const std::string y = op.outputs.empty() || op.outputs[0].empty() ? "" : buf(op.outputs[0]);
  const auto ep_decl = [&](const kernels::Epilogue& e) {
    fn << "  static const hsk_rt::Epilogue ep" << ep_code(e) << ";\n";
  };
  if (t == "Transpose" || t == "Slice" || t == "Split" || t == "Expand" || t == "Gather") {
    auto p = runtime::copy_params(g_, op);
    if (!p) refuse();
    const std::string x = cbuf(op, 0);
    for (size_t i = 0; i < p->copies.size(); ++i) {
      const kernels::StridedCopy& c = p->copies[i];
      fn << "  static const hsk_rt::StridedCopy c" << i << "{" << ints_code(c.out_shape) << ", " << ints_code(c.in_strides)
         << ", " << c.base << "};\n  hsk_rt::strided_copy(c" << i << ", " << x << ", " << buf(op.outputs[p->outputs[i]])
         << ", pool());\n";
    }
    info->kernel = p->kernel;
  } else if (auto b = runtime::binary_params(g_, op)) {
    ep_decl(b->ep);
    fn << "  static const std::vector<int64_t> as" << ints_code(b->a) << ", bs" << ints_code(b->b) << ";\n"
       << "  hsk_rt::binary_op(" << enum_code("BinaryOp", b->kind, kBinaryNames) << ", as, " << cbuf(op, 0) << ", bs, " << cbuf(op, 1) << ", " << y
       << ", pool(), ep);\n";
    info->kernel = b->kernel;
    return true;  // the epilogue carries the fused activation
  } else if (t == "Add" || t == "Sub" || t == "Mul" || t == "Div" || t == "Max" || t == "Min" || t == "Mod") {
    refuse();
  } else if (auto a = runtime::activation_params(g_, op)) {
    ep_decl(*a);
    const int64_t n = graph::numel(g_.shape(op.inputs[0]));
    fn << "  std::memcpy(" << y << ", " << cbuf(op, 0) << ", " << n * 4 << ");\n"
       << "  hsk_rt::activation_inplace(ep, " << y << ", " << n << ", pool());\n";
    info->kernel = std::string("act_") + kernels::act_name(a->act);
  } else if (t == "Relu" || t == "Sigmoid" || t == "HardSwish" || t == "HardSigmoid" || t == "Clip") {
    refuse();
  } else if (auto u = runtime::unary_params(g_, op)) {
    fn << "  hsk_rt::unary_op(" << enum_code("UnaryOp", u->kind, kUnaryNames) << ", " << cbuf(op, 0) << ", " << y << ", " << u->n << ", pool(), "
       << flt(u->alpha) << ");\n";
    info->kernel = u->kernel;
  } else if (t == "Pow" || t == "Erf" || t == "Tanh" || t == "LeakyRelu" || t == "Exp" || t == "Sqrt" || t == "Neg" ||
             t == "Abs" || t == "Gelu") {
    refuse();
  } else if (t == "Softmax") {
    auto p = runtime::softmax_params(g_, op);
    if (!p) refuse();
    fn << "  hsk_rt::softmax(" << p->outer << ", " << p->mid << ", " << p->inner << ", " << cbuf(op, 0) << ", " << y
       << ", pool());\n";
    info->kernel = p->inner == 1 ? "softmax_last_axis" : "softmax_axis";
  } else if (t == "BatchNormalization") {
    auto p = runtime::batchnorm_params(g_, op);
    if (!p) refuse();
    ep_decl(p->ep);
    fn << "  hsk_rt::channel_affine(" << p->n << ", " << p->c << ", " << p->inner << ", " << cbuf(op, 0) << ", F("
       << blob_.put(p->scale) << "), F(" << blob_.put(p->shift) << "), " << y << ", pool(), ep);\n";
    info->kernel = "batchnorm_affine";
    return true;  // the epilogue carries the fused activation
  } else if (t == "ReduceMean" || t == "ReduceSum" || t == "ReduceMax") {
    auto p = runtime::reduce_params(g_, op);
    if (!p) refuse();
    const std::string x = cbuf(op, 0);
    switch (p->form) {
      case runtime::ReduceParams::Form::kCopy:
        fn << "  std::memcpy(" << y << ", " << x << ", " << p->n * 4 << ");\n";
        break;
      case runtime::ReduceParams::Form::kGlobalAvgPool:
        fn << "  hsk_rt::global_avg_pool(1, " << p->outer << ", " << p->mid << ", " << x << ", " << y << ", pool());\n";
        break;
      case runtime::ReduceParams::Form::kReduce:
        fn << "  hsk_rt::reduce(" << enum_code("ReduceOp", p->kind, kReduceNames) << ", " << p->outer << ", " << p->mid << ", " << p->inner << ", "
           << x << ", " << y << ", pool());\n";
        break;
      case runtime::ReduceParams::Form::kGather: {
        const int64_t b_at = blob_.put(p->bases), o_at = blob_.put(p->offsets);
        fn << "  static const std::vector<int64_t> bases(L(" << b_at << "), L(" << b_at << ") + " << p->bases.size()
           << "), offsets(L(" << o_at << "), L(" << o_at << ") + " << p->offsets.size() << ");\n"
           << "  hsk_rt::reduce_gather(" << enum_code("ReduceOp", p->kind, kReduceNames) << ", bases, offsets, " << x << ", " << y << ", pool());\n";
        break;
      }
    }
    info->kernel = p->kernel;
  } else if (t == "GlobalAveragePool" || t == "GlobalMaxPool") {
    auto p = runtime::global_pool_params(g_, op);
    if (!p) refuse();
    if (p->max)
      fn << "  hsk_rt::reduce(hsk_rt::ReduceOp::kMax, " << p->n * p->c << ", " << p->hw << ", 1, " << cbuf(op, 0) << ", "
         << y << ", pool());\n";
    else
      fn << "  hsk_rt::global_avg_pool(" << p->n << ", " << p->c << ", " << p->hw << ", " << cbuf(op, 0) << ", " << y
         << ", pool());\n";
    info->kernel = p->max ? "global_max_pool" : "global_avg_pool";
  } else if (t == "MaxPool" || t == "AveragePool") {
    auto s = runtime::pool2d_shape_of(g_, op);
    if (!s) refuse();
    const bool mx = t == "MaxPool";
    fn << "  static const hsk_rt::Pool2dShape s = " << pool_code(*s) << ";\n  hsk_rt::" << (mx ? "max" : "avg")
       << "_pool2d(s, " << cbuf(op, 0) << ", " << y << ", pool());\n";
    info->kernel = mx ? "max_pool2d" : "avg_pool2d";
  } else if (t == "Pad") {
    auto p = runtime::pad_params(g_, op);
    if (!p) refuse();
    fn << "  static const hsk_rt::PadShape s = [] {\n    hsk_rt::PadShape s;\n    s.in_shape = " << ints_code(p->in_shape)
       << ";\n    s.pads = " << ints_code(p->pads) << ";\n    s.mode = " << enum_code("PadMode", p->mode, kPadNames) << ", s.value = "
       << flt(p->value) << ";\n    return s;\n  }();\n  hsk_rt::pad(s, " << cbuf(op, 0) << ", " << y << ", pool());\n";
    info->kernel = "pad_" + op.attr_string("mode", "constant");
  } else if (t == "LayerNormalization") {
    auto p = runtime::layer_norm_params(g_, op);
    if (!p) refuse();
    const std::string bias = p->bias ? "F(" + std::to_string(blob_.put(p->bias->f32)) + ")" : "nullptr";
    fn << "  hsk_rt::layer_norm(" << p->rows << ", " << p->width << ", " << cbuf(op, 0) << ", F("
       << blob_.put(p->scale->f32) << "), " << bias << ", " << flt(p->epsilon) << ", " << y << ", pool());\n";
    info->kernel = "layer_norm";
  } else if (t == "MatMul") {
    auto p = runtime::batched_matmul_params(g_, op);
    if (!p) refuse();
    const int64_t a_at = blob_.put(p->a_offsets), b_at = blob_.put(p->b_offsets);
    fn << "  const float* a = " << cbuf(op, 0) << ";\n  const float* b = " << cbuf(op, 1) << ";\n"
       << "  for (int64_t i = 0; i < " << p->a_offsets.size() << "; ++i)\n"
       << "    hsk_rt::gemm(" << p->m << ", " << p->n << ", " << p->k << ", a + L(" << a_at << ")[i], " << p->k
       << ", false, b + L(" << b_at << ")[i], " << p->n << ", false, " << y << " + i * " << p->m * p->n << ", " << p->n
       << ", nullptr, hsk_rt::Epilogue{}, pool());\n";
    info->kernel = "matmul_gemm";
    info->macs_executed = static_cast<int64_t>(p->a_offsets.size()) * p->m * p->n * p->k;
  } else if (t == "Resize" || t == "Upsample") {
    auto p = runtime::resize_params(g_, op);
    if (!p) refuse();
    if (!p->linear) {
      fn << "  hsk_rt::resize_nearest(" << p->n << ", " << p->c << ", " << p->h << ", " << p->w << ", " << p->out_h << ", "
         << p->out_w << ", " << cbuf(op, 0) << ", " << y << ", pool());\n";
      info->kernel = "resize_nearest";
    } else {
      const auto taps = [&](const char* name, const kernels::LinearTaps& tp) {
        const int64_t lo = blob_.put(tp.lo), hi = blob_.put(tp.hi), fr = blob_.put(tp.frac);
        const size_t n = tp.lo.size();
        fn << "  static const hsk_rt::LinearTaps " << name << "{{L(" << lo << "), L(" << lo << ") + " << n << "}, {L(" << hi
           << "), L(" << hi << ") + " << n << "}, {F(" << fr << "), F(" << fr << ") + " << n << "}};\n";
      };
      taps("ty", p->ty);
      taps("tx", p->tx);
      fn << "  hsk_rt::resize_linear(" << p->n * p->c << ", " << p->h << ", " << p->w << ", " << p->out_h << ", " << p->out_w
         << ", ty, tx, " << cbuf(op, 0) << ", " << y << ", pool());\n";
      info->kernel = "resize_bilinear";
    }
  } else if (t == "Where") {
    auto p = runtime::where_params(g_, op);
    if (!p) refuse();
    fn << "  static const std::vector<int64_t> cs" << ints_code(p->cond_shape) << ", as" << ints_code(p->a) << ", bs"
       << ints_code(p->b) << ";\n  hsk_rt::where_select(cs, U(" << blob_.put(p->mask) << "), as, " << cbuf(op, 1)
       << ", bs, " << cbuf(op, 2) << ", " << y << ", pool());\n";
    info->kernel = "where_select";
  } else {
    return false;
  }
  if (op.fused.kind != graph::Activation::kNone) unsupported(op, "a fused activation on this op type");
  return true;
}

void Generator::gen_gemm(const Op& op, std::ostringstream& fn) {
  const Shape as = g_.shape(op.inputs.at(0));
  // MatMul's leading dims are rows of one GEMM (ConvNeXt's channel-last linear layers), as the executor runs it.
  if (as.size() != 2 && (op.type != "MatMul" || as.size() < 2))
    unsupported(op, "an input of rank " + std::to_string(as.size()));
  if (op.type == "Gemm" && (op.attr_int("transA", 0) != 0 || op.attr_float("alpha", 1.0f) != 1.0f ||
                            op.attr_float("beta", 1.0f) != 1.0f))
    unsupported(op, "transA, alpha or beta other than the defaults");
  const graph::Tensor* b = op.inputs.size() > 1 ? g_.constant(op.inputs[1]) : nullptr;
  if (!b || b->shape.size() != 2) unsupported(op, "a weight that is not a 2-D constant");
  const bool trans_b = op.type == "Gemm" && op.attr_int("transB", 0) != 0;
  const int64_t k = as.back(), m = k ? graph::numel(as) / k : 0, n = trans_b ? b->shape[0] : b->shape[1];
  if ((trans_b ? b->shape[1] : b->shape[0]) != k) unsupported(op, "mismatched inner dimensions");
  std::vector<float> wt(static_cast<size_t>(n * k));
  for (int64_t o = 0; o < n; ++o)
    for (int64_t j = 0; j < k; ++j)
      wt[static_cast<size_t>(o * k + j)] = trans_b ? b->f32[static_cast<size_t>(o * k + j)] : b->f32[static_cast<size_t>(j * n + o)];
  std::vector<float> bias(static_cast<size_t>(n), 0.0f);
  if (op.type == "Gemm" && op.input(2)) {
    const graph::Tensor* c = g_.constant(*op.input(2));
    if (!c) unsupported(op, "a bias that is not a constant");
    if (c->f32.size() == static_cast<size_t>(n)) bias = c->f32;
    else if (c->f32.size() == 1) std::fill(bias.begin(), bias.end(), c->f32[0]);
    else unsupported(op, "a bias of shape " + graph::shape_str(c->shape));
  }
  const kernels::Epilogue ep = runtime::epilogue_of(op);
  const int64_t w_at = blob_.put(wt), b_at = blob_.put(bias);
  fn << "  hsk::dense_rows<" << act_enum(ep.act) << ">(" << cbuf(op, 0) << ", F(" << w_at << "), F(" << b_at << "), "
     << buf(op.outputs[0]) << ", " << m << ", " << n << ", " << k << ", " << act_params(ep) << ");\n";
  GeneratedOp info{op.name, op.type, "dense_rows", false, false, 0, {}, m * n * k};
  ops_.push_back(info);
}

void Generator::gen_op(const Op& op, std::ostringstream& fn) {
  const std::string& t = op.type;
  if (op.unknown) unsupported(op, "an op imported with --allow-unknown");
  if (op.outputs.empty() || op.outputs[0].empty() || op.inputs.empty()) unsupported(op, "an op without an input or a first output");
  // Extra outputs: Split's parts; optional ones (BatchNormalization's statistics) must be absent.
  for (size_t i = 1; i < op.outputs.size(); ++i)
    if (!op.outputs[i].empty() && t != "Split") unsupported(op, "an op with " + std::to_string(op.outputs.size()) + " outputs");
  const std::string y = buf(op.outputs[0]);
  const Shape ys = g_.shape(op.outputs[0]);
  const int64_t yn = graph::numel(ys);
  if (t == "Conv") return gen_conv(op, fn);
  // MatMul with a 2-D constant weight runs as the executor runs it (a packed GEMM); of run-time tensors, batched.
  if (t == "Gemm" || (t == "MatMul" && op.inputs.size() == 2 && g_.is_constant(op.inputs[1]) &&
                      g_.shape(op.inputs[1]).size() == 2))
    return gen_gemm(op, fn);
  GeneratedOp info{op.name, t, "", false, false, 0, {}, 0};
  if (gen_native(op, fn, &info)) {
    ops_.push_back(info);
    return;
  }
  if (t == "Concat") {
    const int64_t rank = static_cast<int64_t>(ys.size());
    int64_t axis = op.attr_int("axis", 1);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) throw Error(where_of(op), "axis out of range");
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= ys[static_cast<size_t>(d)];
    const int64_t total = outer ? yn / outer : 0;
    int64_t at = 0;
    int copied = 0;
    for (size_t i = 0; i < op.inputs.size(); ++i) {
      const int64_t inner = outer ? graph::numel(g_.shape(op.inputs[i])) / outer : 0;
      auto a = in_place_.find(op.inputs[i]);
      if (a != in_place_.end() && a->second.first == op.outputs[0]) {  // its producer wrote it in place
        at += inner;
        continue;
      }
      ++copied;
      fn << "  for (int64_t o = 0; o < " << outer << "; ++o) std::memcpy(" << y << " + o * " << total << " + " << at
         << ", " << cbuf(op, i) << " + o * " << inner << ", " << inner * 4 << ");\n";
      at += inner;
    }
    info.kernel = copied ? "concat_copy" : "concat_in_place";
  } else if (t == "Reshape" || t == "Flatten" || t == "Identity" || t == "Dropout" || t == "Squeeze" || t == "Unsqueeze") {
    if (graph::numel(g_.shape(op.inputs[0])) != yn) throw Error(where_of(op), "changes the element count");
    fn << "  std::memcpy(" << y << ", " << cbuf(op, 0) << ", " << yn * 4 << ");\n";
    info.kernel = "copy";
  } else {
    unsupported(op, "no generated kernel for this op type");
  }
  if (op.fused.kind != graph::Activation::kNone) unsupported(op, "a fused activation on this op type");
  ops_.push_back(info);
}

GeneratedLibrary Generator::run() {
  GeneratedLibrary lib;
  std::vector<std::string> inputs;
  for (const auto& in : g_.inputs())
    if (!g_.is_constant(in)) inputs.push_back(in);
  if (inputs.size() != 1)
    throw Error("model", "has " + std::to_string(inputs.size()) + " inputs; the generated library takes exactly one");
  lib.input_name = inputs[0];
  lib.input_shape = g_.shape(inputs[0]);
  lib.input_elems = graph::numel(lib.input_shape);
  where_[inputs[0]] = "in";
  std::set<std::string> outs;
  for (const auto& o : g_.outputs()) {
    if (outs.count(o)) continue;
    if (g_.is_constant(o) || o == inputs[0]) throw Error("graph output '" + o + "'", "is a constant or the input itself");
    outs.insert(o);
    lib.outputs.push_back({o, g_.shape(o), lib.output_elems});
    where_[o] = "(out + " + std::to_string(lib.output_elems) + ")";
    lib.output_elems += graph::numel(g_.shape(o));
  }

  // The memory plan: the runtime's planner over the op order, graph input and outputs outside it.
  const std::vector<graph::OpId> order = g_.topological_order();
  std::vector<runtime::BufferRequest> req;
  std::map<std::string, size_t> req_of;
  for (size_t k = 0; k < order.size(); ++k) {
    const Op& op = g_.op(order[k]);
    for (const auto& i : op.inputs) {
      auto it = req_of.find(i);
      if (it != req_of.end()) req[it->second].last = static_cast<int>(k);
    }
    for (const auto& o : op.outputs) {
      if (o.empty() || outs.count(o)) continue;
      const graph::TensorInfo* ti = g_.tensor_info(o);
      if (!ti || !ti->known) throw Error("tensor '" + o + "'", "has no known shape");
      if (ti->dtype != graph::DType::kFloat32) throw Error("tensor '" + o + "'", "is not fp32; the library runs fp32 only");
      req_of[o] = req.size();
      req.push_back({o, graph::numel(ti->shape) * 4, static_cast<int>(k), static_cast<int>(k)});
    }
  }
  // Concat inputs written in place: a channel concat at batch 1 is its inputs one after another, so
  // their producers write straight into the output's slices and the concat copies nothing (the
  // runtime's executor copies them). The output's buffer then lives from its first producer on.
  std::map<std::string, std::pair<std::string, int64_t>> alias;  // tensor -> (concat output, float offset)
  for (size_t k = 0; k < order.size(); ++k) {
    const Op& op = g_.op(order[k]);
    if (op.type != "Concat" || op.outputs.size() != 1 || !req_of.count(op.outputs[0])) continue;
    const Shape ys = g_.shape(op.outputs[0]);
    int64_t axis = op.attr_int("axis", 1);
    if (axis < 0) axis += static_cast<int64_t>(ys.size());
    int64_t outer = 1;
    for (int64_t d = 0; d < axis && d < static_cast<int64_t>(ys.size()); ++d) outer *= ys[static_cast<size_t>(d)];
    if (outer != 1) continue;
    int64_t at = 0;
    for (const auto& i : op.inputs) {
      const std::optional<graph::OpId> prod = g_.producer(i);
      const bool once = std::count(op.inputs.begin(), op.inputs.end(), i) == 1;
      if (once && prod && req_of.count(i) && !alias.count(i) && g_.op(*prod).type != "Concat")
        alias[i] = {op.outputs[0], at};
      at += graph::numel(g_.shape(i));
    }
  }
  std::vector<runtime::BufferRequest> kept;
  std::map<std::string, size_t> kept_of;
  for (const auto& r : req) {
    auto a = alias.find(r.name);
    if (a != alias.end()) {
      runtime::BufferRequest& c = req[req_of.at(a->second.first)];
      c.first = std::min(c.first, r.first), c.last = std::max(c.last, r.last);
    }
  }
  for (const auto& r : req)
    if (!alias.count(r.name)) kept_of[r.name] = kept.size(), kept.push_back(r);
  const runtime::MemoryPlan mp = runtime::plan_memory(kept);
  for (const auto& [name, i] : kept_of) where_[name] = "(ws + " + std::to_string(mp.offsets[i] / 4) + ")";
  for (const auto& [name, a] : alias)
    where_[name] = "(ws + " + std::to_string(mp.offsets[kept_of.at(a.first)] / 4 + a.second) + ")";
  in_place_ = alias;
  lib.arena_bytes = mp.arena_bytes;

  std::ostringstream body, run, op_table;
  for (size_t k = 0; k < order.size(); ++k) {
    const Op& op = g_.op(order[k]);
    std::ostringstream fn;
    gen_op(op, fn);
    body << "// " << op.type << " '" << op.name << "'" << (ops_.back().kernel.empty() ? "" : ": " + ops_.back().kernel)
         << "\nvoid op" << k << "(const float* __restrict in, float* __restrict out, float* __restrict ws, "
         << "float* __restrict scratch) {\n"
         << "  (void)in; (void)out; (void)ws; (void)scratch;\n"
         << fn.str() << "}\n\n";
    run << "  op" << k << "(in, out, ws, scratch);\n";
    op_table << "    {op" << k << ", \"" << c_escape(op.name) << "\"},\n";
  }
  const int64_t scratch_at = align_up(mp.arena_bytes);
  // Slack after the scratch: the dropped lanes of a 1x1 conv's last tile read past its input.
  lib.workspace_bytes = scratch_at + align_up(scratch_floats_ * 4) + 8 * kAlign;
  lib.weights = std::move(blob_.bytes);
  lib.ops = ops_;

  std::ostringstream h;
  h << "// The C interface of an emitted hilsim library. Generated; do not edit.\n"
    << "// Model input '" << lib.input_name << "' " << graph::shape_str(lib.input_shape) << " (NCHW fp32); outputs, "
    << "one after another in the output buffer:\n";
  for (const auto& o : lib.outputs)
    h << "//   '" << o.name << "' " << graph::shape_str(o.shape) << " at float offset " << o.offset << "\n";
  h << "#ifndef HILSIM_MODEL_H\n#define HILSIM_MODEL_H\n\n"
    << "#define HILSIM_MODEL_INPUT_ELEMS " << lib.input_elems << "\n"
    << "#define HILSIM_MODEL_OUTPUT_ELEMS " << lib.output_elems << "\n"
    << "#define HILSIM_MODEL_WORKSPACE_BYTES " << lib.workspace_bytes << "\n\n"
    << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
    << "// Runs the model once (on hilsim_model_set_threads' count, 1 unless set; the calling thread takes\n"
    << "// part): input holds HILSIM_MODEL_INPUT_ELEMS floats, output receives\n"
    << "// HILSIM_MODEL_OUTPUT_ELEMS, workspace is HILSIM_MODEL_WORKSPACE_BYTES of scratch memory (64-byte\n"
    << "// alignment of all three is fastest). Returns 0, 1 when a pointer is null, 2 when memory for the\n"
    << "// prepared kernels ran out. Calls with distinct workspaces may run concurrently.\n"
    << "int hilsim_model_run(const float* input, float* output, void* workspace);\n"
    << "// Threads for later runs, on every calling thread: 0, or 1 when threads is outside 1.." << kMaxThreads << ".\n"
    << "// The runtime's kernels split their work over them (plain copies and fully connected layers run on\n"
    << "// the calling thread).\n"
    << "int hilsim_model_set_threads(int threads);\nint hilsim_model_threads(void);\n"
    << "// Packs the weights for the kernels (the first run does it otherwise): 0, or 2 when out of memory.\n"
    << "int hilsim_model_prepare(void);\n"
    << "// The ops one at a time, in run order (running 0..ops-1 is one run): for per-layer timing.\n"
    << "int hilsim_model_ops(void);\nconst char* hilsim_model_op_name(int i);\n"
    << "int hilsim_model_run_op(int i, const float* input, float* output, void* workspace);\n"
    << "// The three sizes above, for callers that load the library with dlopen.\n"
    << "long long hilsim_model_input_elems(void);\nlong long hilsim_model_output_elems(void);\n"
    << "long long hilsim_model_workspace_bytes(void);\n\n"
    << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";

  std::ostringstream c;
  c << "// An emitted hilsim model: one function per op, the workspace layout as constant offsets, the\n"
    << "// weights embedded from model_weights.bin. Generated; do not edit.\n"
    << "#include \"model.h\"\n#include \"model_kernels.h\"\n\n"
    << "#include <atomic>\n#include <cstring>\n#include <exception>\n#include <memory>\n#include <utility>\n#include <vector>\n\n"
    << "#include \"hilsim/kernels/dense_conv.h\"\n#include \"hilsim/kernels/depthwise_conv.h\"\n"
    << "#include \"hilsim/kernels/sparse_conv.h\"\n"
    << "#include \"hilsim/kernels/gemm.h\"\n#include \"hilsim/kernels/layout_ops.h\"\n"
    << "#include \"hilsim/kernels/math_ops.h\"\n#include \"hilsim/kernels/memory_ops.h\"\n\n"
    << "extern \"C\" const unsigned char hilsim_model_blob[];\n"
    << "__asm__(\".section .rodata\\n.balign 64\\n.hidden hilsim_model_blob\\n.globl hilsim_model_blob\\n\"\n"
    << "        \"hilsim_model_blob:\\n.incbin \\\"model_weights.bin\\\"\\n.byte 0\\n.previous\\n\");\n\n"
    << "#define HILSIM_API extern \"C\" __attribute__((visibility(\"default\")))\n\n"
    << "namespace {\n\n"
    << "inline const float* F(int64_t at) { return reinterpret_cast<const float*>(hilsim_model_blob + at); }\n"
    << "inline const int32_t* I(int64_t at) { return reinterpret_cast<const int32_t*>(hilsim_model_blob + at); }\n"
    << "inline const int64_t* L(int64_t at) { return reinterpret_cast<const int64_t*>(hilsim_model_blob + at); }\n"
    << "inline const uint8_t* U(int64_t at) { return hilsim_model_blob + at; }\n\n"
    << "constexpr int64_t kScratchFloats = " << scratch_at / 4 << ";\n\n"
    << "namespace hsk_rt = hilsim::kernels;\n\n"
    << "// The runtime's kernels (kernels/), prepared from the blob on first use, shared by all callers.\n"
    << "struct Kernels {\n  std::unique_ptr<hsk_rt::PreparedConv> conv[" << std::max<size_t>(runtime_convs_.size(), 1)
    << "];\n};\n\n"
    << "Kernels* prepare_kernels() {\n  auto owned = std::make_unique<Kernels>();\n  Kernels& k = *owned;\n  (void)k;\n"
    << prepare_.str() << "  return owned.release();\n}\n\n"
    << "// A throw while preparing (out of memory) leaves the static unset, so a later call retries.\n"
    << "const Kernels& kernels() {\n  static const Kernels* k = prepare_kernels();\n  return *k;\n}\n\n"
    << "// Threads per run (hilsim_model_set_threads). Each calling thread owns its pool, so calls on distinct\n"
    << "// threads (with distinct workspaces) stay independent; a pool of one runs the work inline.\n"
    << "std::atomic<int> g_threads{1};\n\n"
    << "hsk_rt::ThreadPool& pool() {\n  static thread_local std::unique_ptr<hsk_rt::ThreadPool> p;\n"
    << "  const int n = g_threads.load(std::memory_order_relaxed);\n"
    << "  if (!p || p->threads() != n) {\n    p.reset();\n    p = std::make_unique<hsk_rt::ThreadPool>(n);\n  }\n"
    << "  return *p;\n}\n\n"
    << body.str();
  if (harness_) c << tune_.str();
  c << "}  // namespace\n\n"
    << "HILSIM_API long long hilsim_model_input_elems(void) { return " << lib.input_elems << "; }\n"
    << "HILSIM_API long long hilsim_model_output_elems(void) { return " << lib.output_elems << "; }\n"
    << "HILSIM_API long long hilsim_model_workspace_bytes(void) { return " << lib.workspace_bytes << "; }\n\n"
    << "HILSIM_API int hilsim_model_set_threads(int threads) {\n"
    << "  if (threads < 1 || threads > " << kMaxThreads << ") return 1;\n"
    << "  g_threads.store(threads, std::memory_order_relaxed);\n  return 0;\n}\n\n"
    << "HILSIM_API int hilsim_model_threads(void) { return g_threads.load(std::memory_order_relaxed); }\n\n"
    << "HILSIM_API int hilsim_model_prepare(void) {\n"
    << "  try {\n    kernels();\n    return 0;\n  } catch (const std::exception&) {\n    return 2;\n  }\n}\n\n"
    << "HILSIM_API int hilsim_model_run(const float* in, float* out, void* workspace) {\n"
    << "  if (!in || !out || !workspace) return 1;\n"
    << "  try {\n"
    << "    float* ws = static_cast<float*>(workspace);\n"
    << "    float* scratch = ws + kScratchFloats;\n"
    << run.str() << "  } catch (const std::exception&) {\n    return 2;\n  }\n  return 0;\n}\n\n"
    << "// The ops one at a time, in run order (hilsim_model_run is all of them): per-layer timing.\n"
    << "namespace {\nstruct OpEntry {\n  void (*fn)(const float*, float*, float*, float*);\n  const char* name;\n};\n"
    << "const OpEntry kOps[] = {\n" << op_table.str() << "};\n}  // namespace\n\n"
    << "HILSIM_API int hilsim_model_ops(void) { return " << order.size() << "; }\n"
    << "HILSIM_API const char* hilsim_model_op_name(int i) { return i >= 0 && i < " << order.size()
    << " ? kOps[i].name : nullptr; }\n"
    << "HILSIM_API int hilsim_model_run_op(int i, const float* in, float* out, void* workspace) {\n"
    << "  if (!in || !out || !workspace || i < 0 || i >= " << order.size() << ") return 1;\n"
    << "  try {\n    float* ws = static_cast<float*>(workspace);\n    kOps[i].fn(in, out, ws, ws + kScratchFloats);\n"
    << "  } catch (const std::exception&) {\n    return 2;\n  }\n  return 0;\n}\n";
  if (harness_) {
    // The tuner runs the whole model once for realistic buffers, then one conv variant at a time.
    c << "\nnamespace {\nusing TuneFn = void (*)(const float*, float*, float*, float*);\n";
    c << "const int kTuneCounts[] = {";
    for (const auto& v : tune_fns_) c << v.size() << ", ";
    c << "0};\nconst TuneFn kTuneFns[] = {";
    for (const auto& v : tune_fns_)
      for (const auto& n : v) c << n << ", ";
    c << "nullptr};\n}  // namespace\n"
      << "HILSIM_API int hilsim_model_tune_layers(void) { return " << tune_fns_.size() << "; }\n"
      << "HILSIM_API int hilsim_model_tune_variants(int layer) { return layer >= 0 && layer < " << tune_fns_.size()
      << " ? kTuneCounts[layer] : 0; }\n"
      << "HILSIM_API int hilsim_model_tune_run(int layer, int variant, const float* in, float* out, void* workspace) {\n"
      << "  if (hilsim_model_tune_variants(layer) <= variant || variant < 0) return 1;\n"
      << "  int at = 0;\n  for (int l = 0; l < layer; ++l) at += kTuneCounts[l];\n"
      << "  float* ws = static_cast<float*>(workspace);\n"
      << "  try {\n    kTuneFns[at + variant](in, out, ws, ws + kScratchFloats);\n  } catch (const std::exception&) {\n"
      << "    return 2;\n  }\n  return 0;\n}\n";
  }

  std::ostringstream bench;
  bench << "// model_bench: times hilsim_model_run, or runs it once on a raw float file (numerics checks).\n"
        << "// usage: model_bench [--repeat N] [--threads N] [--per-op 1] [--input FILE --output FILE].\n"
        << "// --per-op 1 times each op on its own (JSON ops[{op, ms_p10, ms_median}]). Generated; do not edit.\n"
        << "#include <algorithm>\n#include <chrono>\n#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n"
        << "#include <vector>\n\n#include \"model.h\"\n\n"
        << "namespace {\nstruct Buffer {\n  float* p;\n  size_t n;\n"
        << "  explicit Buffer(size_t bytes) : p(static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64))), n(bytes / 4) {}\n"
        << "  ~Buffer() { std::free(p); }\n  float* data() { return p; }\n  float& operator[](size_t i) { return p[i]; }\n  size_t size() const { return n; }\n"
        << "};\n\n"
        << "// Op names come from the ONNX file and may hold quotes or control characters.\n"
        << "void put_json_string(const char* s) {\n  std::putchar('\"');\n"
        << "  for (; *s; ++s) {\n    const unsigned char c = static_cast<unsigned char>(*s);\n"
        << "    if (c == '\"' || c == '\\\\') { std::putchar('\\\\'); std::putchar(c); }\n"
        << "    else if (c < 0x20) std::printf(\"\\\\u%04x\", c);\n    else std::putchar(c);\n  }\n"
        << "  std::putchar('\"');\n}\n}  // namespace\n\n"
        << "int main(int argc, char** argv) {\n"
        << "  int repeat = 20, threads = 1, per_op = 0;\n  const char* in_path = nullptr;\n  const char* out_path = nullptr;\n"
        << "  for (int i = 1; i + 1 < argc; i += 2) {\n"
        << "    if (!std::strcmp(argv[i], \"--repeat\")) repeat = std::atoi(argv[i + 1]);\n"
        << "    else if (!std::strcmp(argv[i], \"--threads\")) threads = std::atoi(argv[i + 1]);\n"
        << "    else if (!std::strcmp(argv[i], \"--per-op\")) per_op = std::atoi(argv[i + 1]);\n"
        << "    else if (!std::strcmp(argv[i], \"--input\")) in_path = argv[i + 1];\n"
        << "    else if (!std::strcmp(argv[i], \"--output\")) out_path = argv[i + 1];\n"
        << "    else { std::fprintf(stderr, \"model_bench: unknown flag %s\\n\", argv[i]); return 2; }\n  }\n"
        << "  if (repeat < 1) { std::fprintf(stderr, \"model_bench: --repeat %d: expected >= 1\\n\", repeat); return 2; }\n"
        << "  if (hilsim_model_set_threads(threads) != 0) { std::fprintf(stderr, \"model_bench: --threads %d: "
        << "expected 1.." << kMaxThreads << "\\n\", threads); return 2; }\n"
        << "  // All three buffers 64-byte aligned, as model.h advises (a misaligned output splits every\n"
        << "  // vector store of the last convs across two cache lines).\n"
        << "  Buffer in(HILSIM_MODEL_INPUT_ELEMS * 4), out(HILSIM_MODEL_OUTPUT_ELEMS * 4), work(HILSIM_MODEL_WORKSPACE_BYTES);\n"
        << "  void* ws = work.p;\n"
        << "  if (!in.p || !out.p || !ws) return 1;\n"
        << "  if (in_path) {\n"
        << "    FILE* f = std::fopen(in_path, \"rb\");\n"
        << "    if (!f || std::fread(in.data(), 4, in.size(), f) != in.size()) { std::fprintf(stderr, \"model_bench: "
        << "cannot read %s\\n\", in_path); return 2; }\n    std::fclose(f);\n"
        << "  } else {\n    for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>((i * 7919) % 1000) / 500.0f - 1.0f;\n  }\n"
        << "  if (out_path) {\n"
        << "    if (hilsim_model_run(in.data(), out.data(), ws) != 0) return 1;\n"
        << "    FILE* f = std::fopen(out_path, \"wb\");\n"
        << "    if (!f || std::fwrite(out.data(), 4, out.size(), f) != out.size()) return 1;\n"
        << "    std::fclose(f);\n    return 0;\n  }\n"
        << "  if (per_op) {\n"
        << "    // Each op timed on its own, the model run op by op: p10 and median per op over the repeats.\n"
        << "    const int n = hilsim_model_ops();\n"
        << "    std::vector<std::vector<double>> t(static_cast<size_t>(n));\n"
        << "    for (int r = 0; r < repeat + 3; ++r)\n"
        << "      for (int i = 0; i < n; ++i) {\n"
        << "        const auto t0 = std::chrono::steady_clock::now();\n"
        << "        if (hilsim_model_run_op(i, in.data(), out.data(), ws) != 0) return 1;\n"
        << "        const auto t1 = std::chrono::steady_clock::now();\n"
        << "        if (r >= 3) t[static_cast<size_t>(i)].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());\n"
        << "      }\n"
        << "    std::printf(\"{\\\"threads\\\": %d, \\\"repeat\\\": %d, \\\"ops\\\": [\", threads, repeat);\n"
        << "    for (int i = 0; i < n; ++i) {\n"
        << "      std::vector<double>& v = t[static_cast<size_t>(i)];\n"
        << "      std::sort(v.begin(), v.end());\n"
        << "      std::printf(\"%s{\\\"op\\\": \", i ? \", \" : \"\");\n"
        << "      put_json_string(hilsim_model_op_name(i));\n"
        << "      std::printf(\", \\\"ms_p10\\\": %.5f, \\\"ms_median\\\": %.5f}\", v[v.size() / 10], v[v.size() / 2]);\n"
        << "    }\n"
        << "    std::printf(\"]}\\n\");\n    return 0;\n  }\n"
        << "  std::vector<double> ms;\n"
        << "  for (int r = 0; r < repeat + 3; ++r) {\n"
        << "    const auto t0 = std::chrono::steady_clock::now();\n"
        << "    hilsim_model_run(in.data(), out.data(), ws);\n"
        << "    const auto t1 = std::chrono::steady_clock::now();\n"
        << "    if (r >= 3) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());\n  }\n"
        << "  std::sort(ms.begin(), ms.end());\n"
        << "  if (ms.empty()) return 2;\n"
        << "  std::printf(\"{\\\"ms_p10\\\": %.4f, \\\"ms_median\\\": %.4f, \\\"ms_p90\\\": %.4f, \\\"repeat\\\": %d, \\\"threads\\\": %d}\\n\",\n"
        << "              ms[ms.size() / 10], ms[ms.size() / 2], ms[ms.size() * 9 / 10], repeat, threads);\n"
        << "  return 0;\n}\n";

  lib.files["model.h"] = h.str();
  lib.files["model.cc"] = c.str();
  lib.files[kKernelHeaderName] = kernel_header_text();
  lib.files["model_bench.cc"] = bench.str();
  return lib;
}

}  // namespace

GeneratedLibrary generate_library(const graph::Graph& canonical, const partition::PackedModel& packed,
                                  const std::map<std::string, ConvVariant>& variants, bool tuning_harness) {
  return Generator(canonical, packed, variants, tuning_harness).run();
}

}  // namespace hilsim::codegen

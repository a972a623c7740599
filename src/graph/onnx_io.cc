#include "hilsim/graph/onnx_io.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include "hilsim/graph/op_registry.h"
#include "hilsim/graph/shape_inference.h"
#include "hilsim/util/error.h"
#include "hilsim/version.h"

namespace hilsim::graph {

namespace {

constexpr int64_t kMinOpset = 11;
constexpr int64_t kMaxOpset = 17;

DType from_onnx_type(int32_t t) {
  switch (t) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::FLOAT16: return DType::kFloat32;
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::UINT16: return DType::kInt64;
    case onnx::TensorProto::INT32: return DType::kInt32;
    case onnx::TensorProto::BOOL: return DType::kBool;
    default: return DType::kUnknown;
  }
}

int32_t to_onnx_type(DType t) {
  switch (t) {
    case DType::kFloat32: return onnx::TensorProto::FLOAT;
    case DType::kInt64: return onnx::TensorProto::INT64;
    case DType::kInt32: return onnx::TensorProto::INT32;
    case DType::kBool: return onnx::TensorProto::BOOL;
    case DType::kUnknown: break;
  }
  return onnx::TensorProto::UNDEFINED;
}

template <class T>
std::vector<T> raw_as(const std::string& raw, size_t n, const std::string& where) {
  if (raw.size() != n * sizeof(T))
    throw Error(where, "raw_data holds " + std::to_string(raw.size()) + " bytes, expected " + std::to_string(n * sizeof(T)));
  std::vector<T> v(n);
  if (n) std::memcpy(v.data(), raw.data(), raw.size());
  return v;
}

Tensor from_tensor_proto(const onnx::TensorProto& p, const std::string& where) {
  Tensor t;
  t.name = p.name();
  t.dtype = from_onnx_type(p.data_type());
  const std::string w = where + " tensor '" + p.name() + "'";
  if (t.dtype == DType::kUnknown) throw Error(w, "data type " + std::to_string(p.data_type()) + " is not supported");
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    throw Error(w, "weights stored in external data files are not supported; save the model with the weights inside");
  for (int64_t d : p.dims()) {
    if (d < 0) throw Error(w, "negative dimension");
    t.shape.push_back(d);
  }
  const int64_t n = numel(t.shape);
  if (n > (int64_t{1} << 34)) throw Error(w, "tensor too large");
  const size_t un = static_cast<size_t>(n);
  // Values from raw_data when present, else from the typed field; then widened to the IR's storage.
  auto values = [&](auto tag, const auto& field) {
    using T = decltype(tag);
    return p.has_raw_data() ? raw_as<T>(p.raw_data(), un, w) : std::vector<T>(field.begin(), field.end());
  };
  auto widen = [](const auto& v) { return std::vector<int64_t>(v.begin(), v.end()); };
  switch (p.data_type()) {
    case onnx::TensorProto::FLOAT: t.f32 = values(float{}, p.float_data()); break;
    case onnx::TensorProto::DOUBLE: {
      const std::vector<double> d = values(double{}, p.double_data());
      t.f32.assign(d.begin(), d.end());
      break;
    }
    case onnx::TensorProto::FLOAT16: throw Error(w, "float16 weights are not supported (hilsim models fp32)");
    case onnx::TensorProto::INT64: t.i64 = values(int64_t{}, p.int64_data()); break;
    case onnx::TensorProto::INT32: t.i64 = widen(values(int32_t{}, p.int32_data())); break;
    case onnx::TensorProto::INT8: t.i64 = widen(values(int8_t{}, p.int32_data())); break;
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::BOOL: t.i64 = widen(values(uint8_t{}, p.int32_data())); break;
    default: t.i64 = widen(values(int16_t{}, p.int32_data()));
  }
  const size_t have = t.dtype == DType::kFloat32 ? t.f32.size() : t.i64.size();
  if (have != un) throw Error(w, "holds " + std::to_string(have) + " values for shape " + shape_str(t.shape));
  return t;
}

void to_tensor_proto(const Tensor& t, onnx::TensorProto* p) {
  p->set_name(t.name);
  p->set_data_type(to_onnx_type(t.dtype));
  for (int64_t d : t.shape) p->add_dims(d);
  if (t.dtype == DType::kFloat32) {
    p->set_raw_data(std::string(reinterpret_cast<const char*>(t.f32.data()), t.f32.size() * sizeof(float)));
  } else if (t.dtype == DType::kInt32) {
    for (int64_t v : t.i64) p->add_int32_data(static_cast<int32_t>(v));
  } else if (t.dtype == DType::kBool) {
    for (int64_t v : t.i64) p->add_int32_data(v != 0);
  } else {
    p->set_raw_data(std::string(reinterpret_cast<const char*>(t.i64.data()), t.i64.size() * sizeof(int64_t)));
  }
}

AttrValue from_attr(const onnx::AttributeProto& a, const std::string& where) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: return static_cast<int64_t>(a.i());
    case onnx::AttributeProto::FLOAT: return a.f();
    case onnx::AttributeProto::STRING: return a.s();
    case onnx::AttributeProto::INTS: return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case onnx::AttributeProto::FLOATS: return std::vector<float>(a.floats().begin(), a.floats().end());
    case onnx::AttributeProto::STRINGS: return std::vector<std::string>(a.strings().begin(), a.strings().end());
    case onnx::AttributeProto::TENSOR: return from_tensor_proto(a.t(), where);
    default: break;
  }
  throw Error(where, "attribute '" + a.name() + "' has an unsupported type " + std::to_string(a.type()) +
                         " (graphs and sparse tensors are not supported)");
}

void to_attr(const std::string& name, const AttrValue& v, onnx::AttributeProto* a) {
  a->set_name(name);
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          a->set_type(onnx::AttributeProto::INT);
          a->set_i(x);
        } else if constexpr (std::is_same_v<T, float>) {
          a->set_type(onnx::AttributeProto::FLOAT);
          a->set_f(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          a->set_type(onnx::AttributeProto::STRING);
          a->set_s(x);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          a->set_type(onnx::AttributeProto::INTS);
          for (auto e : x) a->add_ints(e);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          a->set_type(onnx::AttributeProto::FLOATS);
          for (auto e : x) a->add_floats(e);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          a->set_type(onnx::AttributeProto::STRINGS);
          for (const auto& e : x) a->add_strings(e);
        } else {
          a->set_type(onnx::AttributeProto::TENSOR);
          to_tensor_proto(x, a->mutable_t());
        }
      },
      v);
}

// Value infos' static shapes; -1 for a symbolic or missing dim.
Shape shape_of(const onnx::ValueInfoProto& v, bool* has_shape) {
  Shape s;
  *has_shape = v.type().has_tensor_type() && v.type().tensor_type().has_shape();
  if (!*has_shape) return s;
  for (const auto& d : v.type().tensor_type().shape().dim()) s.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return s;
}

}  // namespace

std::map<std::string, Shape> parse_input_shapes(const std::string& spec) {
  std::map<std::string, Shape> r;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (item.empty()) continue;
    std::string name, dims = item;
    const auto colon = item.rfind(':');
    if (colon != std::string::npos) {
      name = item.substr(0, colon);
      dims = item.substr(colon + 1);
    }
    Shape s;
    std::stringstream ds(dims);
    std::string d;
    while (std::getline(ds, d, 'x')) {
      size_t used = 0;
      long long v = -1;
      try {
        v = std::stoll(d, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != d.size() || d.empty() || v <= 0 || v > (1 << 24))
        throw Error("--input-shape '" + spec + "'", "dimension '" + d + "' is not a positive integer (write e.g. 1x3x224x224 or images:1x3x320x320)");
      s.push_back(v);
    }
    if (s.empty()) throw Error("--input-shape '" + spec + "'", "empty shape");
    if (r.count(name)) throw Error("--input-shape '" + spec + "'", "input '" + name + "' given twice");
    r[name] = s;
  }
  if (r.empty()) throw Error("--input-shape", "empty specification");
  return r;
}

const std::vector<std::string>& supported_op_types() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    for (const auto& s : op_registry())
      if (s.importable) v.push_back(s.type);
    return v;
  }();
  return ops;
}

Graph import_onnx_bytes(const std::string& bytes, const std::string& where, const ImportOptions& opts) {
  onnx::ModelProto model;
  if (bytes.empty()) throw Error(where, "file is empty");
  if (!model.ParseFromString(bytes)) throw Error(where, "not a valid ONNX protobuf (parse failed)");
  if (!model.has_graph() || model.graph().node_size() == 0) throw Error(where, "the model has no graph nodes");
  int64_t opset = -1;
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  if (opset < 0) throw Error(where, "no default-domain opset_import");
  if (opset < kMinOpset || opset > kMaxOpset)
    throw Error(where, "opset " + std::to_string(opset) + " is outside the supported " + std::to_string(kMinOpset) + "–" +
                           std::to_string(kMaxOpset) + " (convert it, e.g. with onnx.version_converter)");

  onnx::GraphProto* gp = model.mutable_graph();
  std::set<std::string> init_names;
  for (const auto& t : gp->initializer()) init_names.insert(t.name());

  // Fix dynamic dims of the real inputs from --input-shape (batch defaults to 1).
  std::vector<std::string> real_inputs;
  for (const auto& in : gp->input())
    if (!init_names.count(in.name())) real_inputs.push_back(in.name());
  for (const auto& [name, s] : opts.input_shapes) {
    const std::string key = name.empty() && real_inputs.size() == 1 ? real_inputs[0] : name;
    if (std::find(real_inputs.begin(), real_inputs.end(), key) == real_inputs.end()) {
      std::string known;
      for (const auto& r : real_inputs) known += (known.empty() ? "" : ", ") + r;
      throw Error(where, "--input-shape names input '" + (name.empty() ? std::string("<only input>") : name) +
                             "' but the model's inputs are: " + known);
    }
  }
  for (auto& in : *gp->mutable_input()) {
    if (init_names.count(in.name())) continue;
    if (!in.type().has_tensor_type()) throw Error(where, "input '" + in.name() + "' is not a tensor");
    auto* tt = in.mutable_type()->mutable_tensor_type();
    const Shape* user = nullptr;
    auto it = opts.input_shapes.find(in.name());
    if (it != opts.input_shapes.end()) user = &it->second;
    else if (real_inputs.size() == 1 && opts.input_shapes.count("")) user = &opts.input_shapes.at("");
    if (user) {
      if (tt->has_shape() && tt->shape().dim_size() != static_cast<int>(user->size()))
        throw Error(where, "input '" + in.name() + "' has rank " + std::to_string(tt->shape().dim_size()) +
                               ", --input-shape gives " + shape_str(*user));
      // Channels are fixed by the first layer's weights: another count is no input this model takes.
      if (tt->has_shape() && user->size() >= 2 && tt->shape().dim(1).has_dim_value() &&
          tt->shape().dim(1).dim_value() > 0 && tt->shape().dim(1).dim_value() != (*user)[1])
        throw Error(where, "--input-shape " + shape_str(*user) + " gives input '" + in.name() + "' " +
                               std::to_string((*user)[1]) + " channels; the model takes " +
                               std::to_string(tt->shape().dim(1).dim_value()));
      auto* sh = tt->mutable_shape();
      sh->clear_dim();
      for (int64_t d : *user) sh->add_dim()->set_dim_value(d);
      continue;
    }
    if (!tt->has_shape()) throw Error(where, "input '" + in.name() + "' has no shape; give it with --input-shape");
    for (int i = 0; i < tt->shape().dim_size(); ++i) {
      auto* d = tt->mutable_shape()->mutable_dim(i);
      if (d->has_dim_value() && d->dim_value() > (int64_t{1} << 24))
        throw Error(where, "input '" + in.name() + "' dim " + std::to_string(i) + " = " + std::to_string(d->dim_value()) +
                               " is implausibly large");
      if (d->has_dim_value() && d->dim_value() < 0)
        throw Error(where, "input '" + in.name() + "' dim " + std::to_string(i) + " is " + std::to_string(d->dim_value()) +
                               ": a negative dimension (a dynamic one is named or left empty)");
      if (d->has_dim_value() && d->dim_value() > 0) continue;
      if (i == 0) {
        // A batch of 1 is an answer for one image; say so, since the file left the batch open.
        if (opts.notes)
          opts.notes->push_back("input '" + in.name() + "' has a dynamic batch dim" +
                                (d->dim_param().empty() ? std::string() : " ('" + d->dim_param() + "')") +
                                ", taken as 1 (set it with --input-shape)");
        d->set_dim_value(1);  // batch
      } else {
        throw Error(where, "input '" + in.name() + "' dim " + std::to_string(i) + " is dynamic ('" + d->dim_param() +
                               "'); fix it with --input-shape " + in.name() + ":1x...");
      }
    }
  }

  // ONNX's own inference first: it rejects malformed graphs early with its own message.
  try {
    onnx::ShapeInferenceOptions so(false, 0, true);
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), so);
  } catch (const std::exception& e) {
    throw Error(where, std::string("ONNX shape inference failed: ") + e.what());
  }

  Graph g;
  g.name = gp->name().empty() ? "model" : gp->name();
  g.opset = opset;
  for (const auto& t : gp->initializer()) g.set_constant(from_tensor_proto(t, where));
  for (const auto& in : gp->input()) {
    if (init_names.count(in.name())) continue;
    bool has = false;
    Shape s = shape_of(in, &has);
    g.add_input(TensorInfo{in.name(), from_onnx_type(in.type().tensor_type().elem_type()), s, true});
  }
  std::set<std::string> names, produced;
  for (const auto& c : g.constants()) produced.insert(c.first);
  for (const auto& i : g.inputs()) produced.insert(i);
  int idx = 0;
  for (const auto& n : gp->node()) {
    Op op;
    op.type = n.op_type();
    op.name = n.name().empty() ? n.op_type() + "_" + std::to_string(idx) : n.name();
    ++idx;
    while (names.count(op.name)) op.name += "_";
    names.insert(op.name);
    const std::string nw = where + " node '" + op.name + "' (" + op.type + ")";
    const bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    const OpSpec* spec = default_domain ? find_op_spec(op.type) : nullptr;
    if (!spec || !spec->importable) {
      if (!opts.allow_unknown)
        throw Error(nw, "op type '" + (default_domain ? op.type : n.domain() + "::" + op.type) +
                            "' is not supported (hilsim inspect --ops lists them; --allow-unknown treats it as memory-bound)");
      op.unknown = true;
    }
    for (const auto& a : n.attribute()) op.attrs[a.name()] = from_attr(a, nw);
    if (!op.unknown) validate_op(*spec, op, opset, nw);
    op.inputs.assign(n.input().begin(), n.input().end());
    op.outputs.assign(n.output().begin(), n.output().end());
    for (const auto& o : op.outputs) {
      if (o.empty()) continue;
      if (produced.count(o)) throw Error(nw, "tensor '" + o + "' is produced twice");
      produced.insert(o);
    }
    g.add_op(std::move(op));
  }
  for (OpId id = 0; id < g.num_ops(); ++id)
    for (const auto& in : g.op(id).inputs)
      if (!in.empty() && !produced.count(in))
        throw Error(where + " node '" + g.op(id).name + "'", "input tensor '" + in + "' is produced by nothing");
  for (const auto& o : gp->output()) {
    if (!produced.count(o.name())) throw Error(where, "graph output '" + o.name() + "' is produced by nothing");
    g.add_output(o.name());
  }
  // Unknown ops take their shapes from ONNX's inference where it had any.
  for (const auto& vi : gp->value_info()) {
    bool has = false;
    Shape s = shape_of(vi, &has);
    if (has && std::all_of(s.begin(), s.end(), [](int64_t d) { return d >= 0; }))
      g.set_tensor_info(TensorInfo{vi.name(), from_onnx_type(vi.type().tensor_type().elem_type()), s, true});
  }
  try {
    g.topological_order();
    fold_constants(g);
    infer_shapes(g);
  } catch (const Error& e) {
    throw Error(where + " " + e.where(), e.detail());
  }
  return g;
}

Graph import_onnx(const std::string& path, const ImportOptions& opts) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path, "is a directory, not an ONNX file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path, "cannot open the file");
  std::stringstream ss;
  ss << f.rdbuf();
  Graph g = import_onnx_bytes(ss.str(), path, opts);
  // Exporters name every graph alike ("torch_jit", "main_graph"): the file says more.
  if (g.name == "torch_jit" || g.name == "main_graph" || g.name == "model") {
    std::string stem = path.substr(path.find_last_of('/') + 1);
    g.name = stem.substr(0, stem.rfind(".onnx"));
  }
  return g;
}

namespace {

void add_value_info(const Graph& g, const std::string& name, onnx::ValueInfoProto* v) {
  v->set_name(name);
  const TensorInfo* t = g.tensor_info(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(to_onnx_type(t ? t->dtype : DType::kFloat32));
  if (t && t->known) {
    auto* sh = tt->mutable_shape();
    for (int64_t d : t->shape) sh->add_dim()->set_dim_value(d);
  }
}

// One node writing a fused activation back in standard ONNX.
void emit_activation(const Graph& g, const Op& op, const std::string& x, const std::string& y, onnx::GraphProto* gp,
                     std::vector<onnx::TensorProto>* extra) {
  const FusedActivation& f = op.fused;
  const std::string base = op.name + "_" + activation_name(f.kind);
  auto add = [&](const std::string& type, std::vector<std::string> ins, const std::string& out, const std::string& name) {
    auto* n = gp->add_node();
    n->set_op_type(type);
    n->set_name(name);
    for (auto& i : ins) n->add_input(i);
    n->add_output(out);
    return n;
  };
  switch (f.kind) {
    case Activation::kRelu: add("Relu", {x}, y, base); break;
    case Activation::kSigmoid: add("Sigmoid", {x}, y, base); break;
    case Activation::kHardSwish: add("HardSwish", {x}, y, base); break;
    case Activation::kHardSigmoid: {
      auto* n = add("HardSigmoid", {x}, y, base);
      to_attr("alpha", f.alpha, n->add_attribute());
      to_attr("beta", f.beta, n->add_attribute());
      break;
    }
    case Activation::kClip: {
      Tensor lo = Tensor::zeros(base + "_min", {}), hi = Tensor::zeros(base + "_max", {});
      lo.f32 = {f.min};
      hi.f32 = {f.max};
      extra->emplace_back();
      to_tensor_proto(lo, &extra->back());
      extra->emplace_back();
      to_tensor_proto(hi, &extra->back());
      add("Clip", {x, lo.name, hi.name}, y, base);
      break;
    }
    case Activation::kSiLU: {
      add("Sigmoid", {x}, base + "_sig", base + "_sigmoid");
      add("Mul", {x, base + "_sig"}, y, base);
      break;
    }
    case Activation::kNone: break;
  }
  (void)g;
}

// Gelu entered the default domain at opset 20, past the opsets written here: the fused op is written
// back as the chain PyTorch exports (and the Gelu fusion pass recognises on import).
void emit_gelu(const Op& op, const std::string& y, onnx::GraphProto* gp, std::vector<onnx::TensorProto>* extra) {
  const std::string x = op.inputs.at(0), base = op.name + "_gelu";
  auto constant = [&](const std::string& suffix, float v) {
    Tensor t = Tensor::zeros(base + suffix, {});
    t.f32 = {v};
    extra->emplace_back();
    to_tensor_proto(t, &extra->back());
    return t.name;
  };
  int k = 0;
  auto add = [&](const std::string& type, std::vector<std::string> ins, const std::string& out) {
    auto* n = gp->add_node();
    n->set_op_type(type);
    // The last node keeps the op's name: the fusion on import names the Gelu after it.
    n->set_name(out == y ? op.name : base + "_" + std::to_string(k++));
    for (auto& i : ins) n->add_input(i);
    n->add_output(out);
    return out;
  };
  std::string inner;
  if (op.attr_string("approximate", "none") == "tanh") {
    const std::string cube = add("Mul", {add("Mul", {x, x}, base + "_sq"), x}, base + "_cube");
    const std::string sum = add("Add", {x, add("Mul", {cube, constant("_c", 0.044715f)}, base + "_cc")}, base + "_sum");
    inner = add("Tanh", {add("Mul", {sum, constant("_k", 0.7978845608f)}, base + "_arg")}, base + "_tanh");
  } else {
    inner = add("Erf", {add("Div", {x, constant("_sqrt2", 1.41421356f)}, base + "_div")}, base + "_erf");
  }
  const std::string one_plus = add("Add", {inner, constant("_one", 1.0f)}, base + "_add");
  add("Mul", {add("Mul", {x, one_plus}, base + "_mul"), constant("_half", 0.5f)}, y);
}

}  // namespace

std::string export_onnx_bytes(const Graph& g) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("hilsim");
  m.set_producer_version(HILSIM_VERSION);
  auto* os = m.add_opset_import();
  os->set_domain("");
  os->set_version(std::clamp<int64_t>(g.opset, kMinOpset, kMaxOpset));
  onnx::GraphProto* gp = m.mutable_graph();
  gp->set_name(g.name);
  for (const auto& in : g.inputs()) add_value_info(g, in, gp->add_input());
  for (const auto& out : g.outputs()) add_value_info(g, out, gp->add_output());
  std::set<std::string> used;
  for (OpId id = 0; id < g.num_ops(); ++id)
    for (const auto& i : g.op(id).inputs) used.insert(i);
  for (const auto& out : g.outputs()) used.insert(out);
  for (const auto& [name, t] : g.constants())
    if (used.count(name)) to_tensor_proto(*t, gp->add_initializer());
  std::vector<onnx::TensorProto> extra;
  for (OpId id : g.topological_order()) {
    const Op& op = g.op(id);
    if (op.type == "Gelu" && kMaxOpset < 20 && op.outputs.size() == 1) {
      const std::string y = op.fused.kind != Activation::kNone ? op.outputs[0] + "_prefused" : op.outputs[0];
      emit_gelu(op, y, gp, &extra);
      if (op.fused.kind != Activation::kNone) emit_activation(g, op, y, op.outputs[0], gp, &extra);
      continue;
    }
    auto* n = gp->add_node();
    n->set_name(op.name);
    n->set_op_type(op.type);
    for (const auto& i : op.inputs) n->add_input(i);
    for (size_t k = 0; k < op.outputs.size(); ++k)
      n->add_output(k == 0 && op.fused.kind != Activation::kNone ? op.outputs[0] + "_prefused" : op.outputs[k]);
    for (const auto& [k, v] : op.attrs) to_attr(k, v, n->add_attribute());
    if (op.fused.kind != Activation::kNone) emit_activation(g, op, op.outputs[0] + "_prefused", op.outputs[0], gp, &extra);
  }
  for (auto& t : extra) *gp->add_initializer() = std::move(t);
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    throw Error("export of '" + g.name + "'", std::string("the ONNX checker rejects the model: ") + e.what());
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw Error("export of '" + g.name + "'", "protobuf serialisation failed");
  return bytes;
}

void export_onnx(const Graph& g, const std::string& path) {
  const std::string bytes = export_onnx_bytes(g);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(path, "cannot open for writing");
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw Error(path, "write failed");
}

}  // namespace hilsim::graph

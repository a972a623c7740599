// What every part of the Python module shares: Python values turned into the library's inputs.
#pragma once

#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>

#include <string>

#include "hilsim/graph/graph.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/util/error.h"

namespace hilsim_py {

namespace py = pybind11;

// A numpy scalar (or 0-d array) as the Python number it holds; anything else unchanged. Pruning tools
// compute ratios with numpy and pass them on as they are.
inline py::object plain(const py::handle& h) {
  // Python's own numbers first: the hasattr probes below cost a raised AttributeError each, a
  // microsecond a search step does not have.
  if (PyFloat_CheckExact(h.ptr()) || PyLong_CheckExact(h.ptr()) || PyUnicode_CheckExact(h.ptr()) ||
      PyBool_Check(h.ptr()) || h.is_none() || PyDict_CheckExact(h.ptr()) || PyList_CheckExact(h.ptr()) ||
      PyTuple_CheckExact(h.ptr()))
    return py::reinterpret_borrow<py::object>(h);
  if (py::hasattr(h, "dtype") && py::hasattr(h, "item") && py::hasattr(h, "ndim") && h.attr("ndim").cast<int>() == 0)
    return h.attr("item")();
  return py::reinterpret_borrow<py::object>(h);
}

// A path given as str or os.PathLike (pathlib.Path), as Python's own file functions take it.
inline std::string path_arg(const py::handle& h, const char* what) {
  if (py::isinstance<py::str>(h)) return h.cast<std::string>();
  if (py::hasattr(h, "__fspath__")) return py::str(h.attr("__fspath__")()).cast<std::string>();
  throw hilsim::Error(what, "must be a str or os.PathLike, not " + py::str(h.get_type().attr("__name__")).cast<std::string>());
}

// Python dict/list/number/str -> JSON, so the config goes through the same validating parser as files.
inline nlohmann::json to_json(const py::handle& h0) {
  const py::object h = plain(h0);
  if (h.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(h)) return h.cast<bool>();
  if (py::isinstance<py::int_>(h)) return h.cast<int64_t>();
  if (py::isinstance<py::float_>(h)) return h.cast<double>();
  if (py::isinstance<py::str>(h)) return h.cast<std::string>();
  if (py::isinstance<py::dict>(h)) {
    nlohmann::json j = nlohmann::json::object();
    for (auto item : h.cast<py::dict>()) j[py::str(item.first).cast<std::string>()] = to_json(item.second);
    return j;
  }
  if (py::isinstance<py::list>(h) || py::isinstance<py::tuple>(h)) {
    nlohmann::json j = nlohmann::json::array();
    for (auto item : h) j.push_back(to_json(item));
    return j;
  }
  if (py::hasattr(h, "tolist") && py::hasattr(h, "ndim")) return to_json(h.attr("tolist")());  // numpy arrays
  throw hilsim::Error("config", "unsupported Python value of type " + py::str(h.get_type()).cast<std::string>());
}

// JSON -> the Python value it spells, so a result reaches Python in the same fields the CLI's --json prints.
inline py::object to_py(const nlohmann::json& j) {
  using T = nlohmann::json::value_t;
  switch (j.type()) {
    case T::boolean: return py::bool_(j.get<bool>());
    case T::number_integer: return py::int_(j.get<int64_t>());
    case T::number_unsigned: return py::int_(j.get<uint64_t>());
    case T::number_float: return py::float_(j.get<double>());
    case T::string: return py::str(j.get_ref<const std::string&>());
    case T::array: {
      py::list l;
      for (const auto& x : j) l.append(to_py(x));
      return l;
    }
    case T::object: {
      py::dict d;
      for (const auto& [k, v] : j.items()) d[py::str(k)] = to_py(v);
      return d;
    }
    default: return py::none();  // null (the library writes no binary values)
  }
}

// MODEL as a Predictor takes it: a path (str or os.PathLike) or zoo:NAME[@RES], with the CLI's
// --input-shape and --allow-unknown as keywords.
inline hilsim::graph::Graph load_graph(const py::object& model, const py::object& input_shape, bool allow_unknown) {
  hilsim::graph::ImportOptions io;
  io.allow_unknown = allow_unknown;
  if (!input_shape.is_none()) {
    if (py::isinstance<py::str>(input_shape)) {
      io.input_shapes = hilsim::graph::parse_input_shapes(input_shape.cast<std::string>());
    } else {
      hilsim::graph::Shape s;
      for (auto d : input_shape) s.push_back(plain(d).cast<int64_t>());
      io.input_shapes[""] = s;
    }
  }
  return hilsim::graph::load_model(path_arg(model, "model"), io);
}

// A thread count from Python: None is `none_means`; 0, negatives and non-integers are refused.
inline int threads_arg(const py::object& threads, int none_means) {
  if (threads.is_none()) return none_means;
  const py::object t = plain(threads);
  if (!py::isinstance<py::int_>(t) || py::isinstance<py::bool_>(t))
    throw hilsim::Error("threads=" + py::repr(threads).cast<std::string>(), "must be a whole number");
  const int n = t.cast<int>();
  if (n < 1) throw hilsim::Error("threads=" + std::to_string(n), "must be >= 1 (leave it out for the default)");
  return n;
}

// A config given as a Config, a dict or a uniform SPEC string; None is dense.
inline hilsim::runtime::SparsitySpec spec_arg(const py::object& config) {
  if (config.is_none()) return {};
  if (py::isinstance<hilsim::runtime::SparsitySpec>(config)) return config.cast<const hilsim::runtime::SparsitySpec&>();
  if (py::isinstance<py::str>(config)) return hilsim::runtime::parse_sparsity_spec(config.cast<std::string>());
  return hilsim::runtime::parse_sparsity_json(to_json(config).dump(), "config");
}

// One layer's setting as the dict a config takes ({format, block | entries | ratio, unit}).
inline py::dict layer_dict(const hilsim::runtime::LayerSparsity& l) {
  py::dict d;
  d["format"] = hilsim::runtime::format_name(l.format);
  if (l.format == hilsim::runtime::Format::kBlock || l.format == hilsim::runtime::Format::kBlockCol)
    d["block"] = py::make_tuple(l.bf, l.bc);
  if (l.format == hilsim::runtime::Format::kPattern) d["entries"] = l.entries;
  else if (l.format != hilsim::runtime::Format::kDense) d["ratio"] = l.ratio;
  if (!l.unit.empty()) d["unit"] = l.unit;
  return d;
}

// The parts of the module defined in their own files.
void bind_plan(py::module_& m);
void bind_run(py::module_& m);

}  // namespace hilsim_py

// The Python face of the predictor, for pruning tools that search in PyTorch:
//   hilsim.Predictor("model.onnx", "profile.json").predict({"layer": {"format": "block",
//                                                          "block": [8, 4], "ratio": 0.8}})
// returns latency / bytes / energy per op and in total as plain dicts.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <new>
#include <stdexcept>

#include <optional>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/model/profile.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/version.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/util/error.h"

namespace py = pybind11;
using hilsim::costmodel::Prediction;
using hilsim::costmodel::Predictor;

namespace {

// A numpy scalar (or 0-d array) as the Python number it holds; anything else unchanged. Pruning tools
// compute ratios with numpy and pass them on as they are.
py::object plain(const py::handle& h) {
  if (py::hasattr(h, "dtype") && py::hasattr(h, "item") && py::hasattr(h, "ndim") && h.attr("ndim").cast<int>() == 0)
    return h.attr("item")();
  return py::reinterpret_borrow<py::object>(h);
}

// A path given as str or os.PathLike (pathlib.Path), as Python's own file functions take it.
std::string path_arg(const py::handle& h, const char* what) {
  if (py::isinstance<py::str>(h)) return h.cast<std::string>();
  if (py::hasattr(h, "__fspath__")) return py::str(h.attr("__fspath__")()).cast<std::string>();
  throw hilsim::Error(what, "must be a str or os.PathLike, not " + py::str(h.get_type().attr("__name__")).cast<std::string>());
}

// Python dict/list/number/str -> JSON, so the config goes through the same validating parser as files.
nlohmann::json to_json(const py::handle& h0) {
  const py::object h = plain(h0);
  if (h.is_none()) return nullptr;
  if (py::isinstance<py::bool_>(h)) return h.cast<bool>();
  if (py::isinstance<py::int_>(h)) return h.cast<int64_t>();
  if (py::isinstance<py::float_>(h)) return h.cast<double>();
  if (py::isinstance<py::str>(h)) return h.cast<std::string>();
  if (py::hasattr(h, "tolist") && py::hasattr(h, "ndim")) return to_json(h.attr("tolist")());  // numpy arrays
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
  throw hilsim::Error("config", "unsupported Python value of type " + py::str(h.get_type()).cast<std::string>());
}

py::dict to_dict(const Prediction& p) {
  py::list ops;
  for (const auto& o : p.ops) {
    py::dict d;
    d["name"] = o.name;
    d["type"] = o.type;
    d["kernel"] = o.klass;
    d["unit"] = o.unit;
    d["format"] = o.format;
    d["ms"] = o.ms;
    d["bytes"] = o.bytes;
    d["energy_mj"] = o.energy_mj;
    d["macs"] = o.macs;
    d["executed_macs"] = o.executed_macs;
    d["weight_bytes"] = o.weight_bytes;
    d["extrapolated"] = o.extrapolated;
    ops.append(d);
  }
  // The same totals as `hilsim predict --json`.
  py::dict total;
  total["ms"] = p.ms;
  total["sum_ms"] = p.sum_ms;
  total["bytes"] = p.bytes;
  total["dram_bytes"] = p.dram_bytes;
  total["cache_bytes"] = p.cache_bytes;
  total["energy_mj"] = p.energy_mj;
  total["dynamic_mj"] = p.dynamic_mj;
  total["static_mj"] = p.static_mj;
  total["energy_source"] = p.energy_source;
  total["peak_activation_bytes"] = p.activation_peak_bytes;
  total["weight_bytes"] = p.weight_bytes;
  total["peak_memory_bytes"] = p.peak_memory_bytes;
  total["transfers"] = p.transfers;
  total["transfer_ms"] = p.transfer_ms;
  total["extrapolated_ops"] = p.extrapolated_ops;
  total["roofline_ops"] = p.roofline_ops;
  py::dict busy;
  for (const auto& [u, ms] : p.unit_busy_ms) busy[py::str(u)] = ms;
  total["unit_busy_ms"] = busy;
  py::dict r;
  r["ops"] = ops;
  r["total"] = total;
  return r;
}

}  // namespace

PYBIND11_MODULE(_hilsim, m) {
  m.doc() = "hilsim: latency, memory and energy of pruned CNNs on real devices";
  m.attr("__version__") = HILSIM_VERSION;
  static py::exception<hilsim::Error> error(m, "Error", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const hilsim::Error& e) {
      // The library names CLI flags where a Python user passes keywords: say it their way.
      std::string msg = e.what();
      for (const auto& [flag, kw] : {std::pair<const char*, const char*>{"--input-shape", "input_shape="},
                                     {"--input_shape", "input_shape="}, {"--allow-unknown", "allow_unknown=True"},
                                     {"--allow_unknown", "allow_unknown=True"},
                                     {"--allow-extrapolation", "allow_extrapolation=True"},
                                     {"--allow_extrapolation", "allow_extrapolation=True"},
                                     {"--threads", "threads="}, {"--unit", "unit="}, {"--profile", "profile"}}) {
        for (size_t at = msg.find(flag); at != std::string::npos; at = msg.find(flag, at + std::strlen(kw)))
          msg.replace(at, std::strlen(flag), kw);
      }
      PyErr_SetString(error.ptr(), msg.c_str());
    } catch (const std::length_error& e) {
      PyErr_SetString(error.ptr(), (std::string("too large: ") + e.what()).c_str());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(error.ptr(), "too large: the request needs more memory than there is");
    }
  });
  py::class_<Predictor>(m, "Predictor")
      .def(py::init([](const py::object& model, const py::object& profile, const py::object& threads,
                       const std::string& unit, const py::object& input_shape, bool allow_unknown,
                       bool allow_extrapolation) {
             hilsim::costmodel::PredictorOptions o;
             // The CLI's rule: 1 thread unless told; 0 or a negative count is refused, not read as "default".
             if (!threads.is_none()) {
               const py::object t = plain(threads);
               if (!py::isinstance<py::int_>(t) || py::isinstance<py::bool_>(t))
                 throw hilsim::Error("threads=" + py::repr(threads).cast<std::string>(), "must be a whole number");
               o.threads = t.cast<int>();
               if (o.threads < 1)
                 throw hilsim::Error("threads=" + std::to_string(o.threads), "must be >= 1 (leave it out for 1 thread)");
             } else {
               o.threads = 1;
             }
             o.default_unit = unit;
             o.allow_extrapolation = allow_extrapolation;
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
             const std::string model_path = path_arg(model, "model");
             const std::string profile_path = path_arg(profile, "profile");
             hilsim::graph::Graph g = hilsim::graph::load_model(model_path, io);
             return std::make_unique<Predictor>(g, hilsim::model::load_profile(profile_path), o);
           }),
           py::arg("model"), py::arg("profile"), py::arg("threads") = py::none(), py::arg("unit") = "",
           py::arg("input_shape") = py::none(), py::arg("allow_unknown") = false,
           py::arg("allow_extrapolation") = false,
           "Load MODEL (.onnx path, os.PathLike, or zoo:NAME[@RES]) and a device profile once. Keywords as the\n"
           "CLI's flags: threads (default 1, at most 4x the unit's cores), unit, input_shape ((1, 3, 224, 224) or\n"
           "'1x3x224x224' or 'name:1x3x224x224;...'), allow_unknown (unknown ops as memory-bound),\n"
           "allow_extrapolation (roofline for kernel classes the profile lacks).")
      .def(
          "predict",
          [](Predictor& self, py::object config) {
            hilsim::runtime::SparsitySpec spec;
            if (!config.is_none()) {
              if (py::isinstance<py::str>(config)) {
                spec = hilsim::runtime::parse_sparsity_spec(config.cast<std::string>());
              } else {
                spec = hilsim::runtime::parse_sparsity_json(to_json(config).dump(), "config");
              }
            }
            Prediction p;
            {
              py::gil_scoped_release release;
              p = self.predict(spec);
            }
            py::dict r = to_dict(p);
            r["threads"] = self.default_threads();  // what the answer is for, as in the CLI's JSON
            return r;
          },
          py::arg("config") = py::none(),
          "Predict for a per-layer config {op: {format, block, ratio, entries, unit}} or a uniform SPEC string.")
      .def("prunable_ops", &Predictor::prunable_ops, "(name, dense MACs) of the layers a config may name");
  m.def("zoo_names", &hilsim::graph::zoo_names);
}

// The Python face of the predictor, for pruning tools that search in PyTorch:
//   hilsim.Predictor("model.onnx", "profile.json").predict({"layer": {"format": "block",
//                                                          "block": [8, 4], "ratio": 0.8}})
// returns latency / bytes / energy per op and in total as plain dicts.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <iterator>
#include <new>
#include <stdexcept>

#include <optional>

#include "hilsim/costmodel/prediction_json.h"
#include "hilsim/costmodel/predictor.h"
#include "hilsim/model/profile.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/version.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/util/error.h"
#include "bind_common.h"

namespace py = pybind11;
using hilsim_py::plain;
using hilsim_py::to_json;
using hilsim_py::spec_arg;
using hilsim_py::layer_dict;
using hilsim::costmodel::Prediction;
using hilsim::costmodel::Predictor;

namespace {

using hilsim::runtime::LayerSparsity;
using hilsim::runtime::SparsitySpec;

// The same ops and totals as `hilsim predict --json`.
py::dict to_dict(const Prediction& p) {
  py::list ops;
  for (const auto& o : p.ops) ops.append(hilsim_py::to_py(hilsim::costmodel::op_prediction_json(o)));
  py::dict r;
  r["ops"] = ops;
  r["total"] = hilsim_py::to_py(hilsim::costmodel::prediction_total_json(p));
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
  py::class_<SparsitySpec>(m, "Config",
                           "A per-layer sparsity config held on the C++ side, for search loops that change one\n"
                           "layer per query: Config({op: {format, block, ratio, entries, unit}}) or Config('block:8x4@0.8').")
      .def(py::init([](const py::object& config) { return spec_arg(config); }), py::arg("config") = py::none())
      .def(
          "set",
          [](SparsitySpec& self, const std::string& op, const py::object& setting) {
            if (setting.is_none()) {
              self.layers.erase(op);
              return;
            }
            nlohmann::json j;
            j[op] = to_json(setting);
            // The file parser's checks (ratio in [0, 1], known format and block), naming the op.
            SparsitySpec one = hilsim::runtime::parse_sparsity_json(j.dump(), "config");
            self.layers[op] = one.layers.at(op);
          },
          py::arg("op"), py::arg("setting"), "Set one layer ({format, block, ratio, entries, unit}); None makes it dense.")
      .def(
          "set_ratio",
          [](SparsitySpec& self, const std::string& op, const py::object& ratio) {
            auto it = self.layers.find(op);
            if (it == self.layers.end())
              throw hilsim::Error("config: op '" + op + "'", "has no setting yet: set() its format first");
            const double r = plain(ratio).cast<double>();
            if (!(r >= 0 && r <= 1)) throw hilsim::Error("config: op '" + op + "' ratio", "must lie in [0, 1]");
            it->second.ratio = r;
          },
          py::arg("op"), py::arg("ratio"), "Change one layer's ratio in place (the cheapest search step).")
      .def("__len__", [](const SparsitySpec& self) { return self.layers.size(); })
      .def("__contains__", [](const SparsitySpec& self, const std::string& op) { return self.layers.count(op) > 0; })
      .def("__getitem__",
           [](const SparsitySpec& self, const std::string& op) {
             auto it = self.layers.find(op);
             if (it == self.layers.end()) throw py::key_error(op);
             return layer_dict(it->second);
           })
      .def("to_dict", [](const SparsitySpec& self) {
        py::dict d;
        for (const auto& [op, l] : self.layers) d[py::str(op)] = layer_dict(l);
        return d;
      }, "{op: setting} of the per-layer part (a uniform SPEC's part is not listed)");
  py::class_<Predictor>(m, "Predictor")
      .def(py::init([](const py::object& model, const py::object& profile, const py::object& threads,
                       const std::string& unit, const py::object& input_shape, bool allow_unknown,
                       bool allow_extrapolation) {
             hilsim::costmodel::PredictorOptions o;
             // The CLI's rule: 1 thread unless told; 0 or a negative count is refused, not read as "default".
             o.threads = hilsim_py::threads_arg(threads, 1);
             o.default_unit = unit;
             o.allow_extrapolation = allow_extrapolation;
             const std::string profile_path = hilsim_py::path_arg(profile, "profile");
             hilsim::graph::Graph g = hilsim_py::load_graph(model, input_shape, allow_unknown);
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
            const SparsitySpec spec = spec_arg(config);
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
          "Predict for a per-layer config {op: {format, block, ratio, entries, unit}}, a Config or a uniform SPEC\n"
          "string; per-op table and totals.")
      .def(
          "estimate",
          [](Predictor& self, py::object config) {
            // A search loop's query: totals only, and a Config skips the parsing a dict needs each time.
            hilsim::costmodel::Estimate e;
            if (py::isinstance<SparsitySpec>(config)) {
              const SparsitySpec& spec = config.cast<const SparsitySpec&>();
              py::gil_scoped_release release;
              e = self.estimate(spec);
            } else {
              const SparsitySpec spec = spec_arg(config);
              py::gil_scoped_release release;
              e = self.estimate(spec);
            }
            // Keys made once (interned, never freed: they outlive the module's other objects), so a
            // query builds no strings; this dict is most of what Python adds to a one-layer step.
            static PyObject* const keys[] = {
                PyUnicode_InternFromString("ms"),           PyUnicode_InternFromString("sum_ms"),
                PyUnicode_InternFromString("bytes"),        PyUnicode_InternFromString("dram_bytes"),
                PyUnicode_InternFromString("cache_bytes"),  PyUnicode_InternFromString("energy_mj"),
                PyUnicode_InternFromString("weight_bytes"), PyUnicode_InternFromString("peak_memory_bytes"),
                PyUnicode_InternFromString("extrapolated_ops")};
            const py::object values[] = {py::float_(e.ms),          py::float_(e.sum_ms),
                                         py::int_(e.bytes),         py::int_(e.dram_bytes),
                                         py::int_(e.cache_bytes),   py::float_(e.energy_mj),
                                         py::int_(e.weight_bytes),  py::int_(e.peak_memory_bytes),
                                         py::int_(e.extrapolated_ops)};
            py::dict t;
            for (size_t i = 0; i < std::size(keys); ++i)
              if (PyDict_SetItem(t.ptr(), keys[i], values[i].ptr()) != 0) throw py::error_already_set();
            return t;
          },
          py::arg("config") = py::none(),
          "The totals of predict() (ms, bytes, energy_mj, ...) without the per-op table: the cheap query for a\n"
          "search loop; give a Config and change one layer per step.")
      .def("prunable_ops", &Predictor::prunable_ops, "(name, dense MACs) of the layers a config may name");
  m.def("zoo_names", &hilsim::graph::zoo_names);
  hilsim_py::bind_plan(m);
  hilsim_py::bind_run(m);
}

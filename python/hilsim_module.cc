// The Python face of the predictor, for pruning tools that search in PyTorch:
//   hilsim.Predictor("model.onnx", "profile.json").predict({"layer": {"format": "block",
//                                                          "block": [8, 4], "ratio": 0.8}})
// returns latency / bytes / energy per op and in total as plain dicts.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include <optional>

#include "hilsim/costmodel/predictor.h"
#include "hilsim/graph/zoo.h"
#include "hilsim/runtime/sparsity_spec.h"
#include "hilsim/util/error.h"

namespace py = pybind11;
using hilsim::costmodel::Prediction;
using hilsim::costmodel::Predictor;

namespace {

// Python dict/list/number/str -> JSON, so the config goes through the same validating parser as files.
nlohmann::json to_json(const py::handle& h) {
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
  py::dict total;
  total["ms"] = p.ms;
  total["bytes"] = p.bytes;
  total["energy_mj"] = p.energy_mj;
  total["energy_source"] = p.energy_source;
  total["peak_memory_bytes"] = p.peak_memory_bytes;
  total["transfers"] = p.transfers;
  py::dict r;
  r["ops"] = ops;
  r["total"] = total;
  return r;
}

}  // namespace

PYBIND11_MODULE(_hilsim, m) {
  m.doc() = "hilsim: latency, memory and energy of pruned CNNs on real devices";
  static py::exception<hilsim::Error> error(m, "Error", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const hilsim::Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });
  py::class_<Predictor>(m, "Predictor")
      .def(py::init([](const std::string& model, const std::string& profile, std::optional<int> threads,
                       const std::string& unit) {
             hilsim::costmodel::PredictorOptions o;
             // The CLI's rule: 1 thread unless told; 0 or a negative count is refused, not read as "default".
             if (threads && *threads < 1)
               throw hilsim::Error("threads=" + std::to_string(*threads), "must be >= 1 (leave it out for 1 thread)");
             o.threads = threads.value_or(1);
             o.default_unit = unit;
             return std::make_unique<Predictor>(model, profile, o);
           }),
           py::arg("model"), py::arg("profile"), py::arg("threads") = py::none(), py::arg("unit") = "",
           "Load MODEL (.onnx path or zoo:NAME[@RES]) and a device profile once; predictions are for `threads`\n"
           "threads (default 1, at most 4x the unit's cores).")
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

// hilsim.plan / hilsim.Plan / emit / validate: the planner and its masks for a search loop in Python,
// through the same library calls as `hilsim plan`, `emit` and `validate`.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <fstream>

#include "bind_common.h"
#include "hilsim/model/profile.h"
#include "hilsim/partition/emitter.h"
#include "hilsim/partition/planner.h"
#include "hilsim/partition/validation_json.h"
#include "hilsim/runtime/sparsity_spec.h"

namespace hilsim_py {

namespace {

using hilsim::partition::Plan;

py::dict setting_dict(const hilsim::partition::LayerChoice& l) {
  py::dict d = layer_dict(l.setting);
  d["dense_ms"] = l.dense_ms;
  d["ms"] = l.ms;
  d["kept_saliency"] = l.kept_saliency;
  if (l.group >= 0) d["group"] = l.group;
  return d;
}

std::vector<std::string> formats_arg(const py::object& formats) {
  std::vector<std::string> out;
  if (py::isinstance<py::str>(formats)) {
    std::string s = formats.cast<std::string>(), cur;
    for (char c : s + ",") {
      if (c == ',') {
        if (!cur.empty()) out.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
  } else {
    for (auto f : formats) out.push_back(py::str(f).cast<std::string>());
  }
  if (out.empty()) throw hilsim::Error("formats=", "names no format (known: block, block_col, pattern, csr)");
  return out;
}

// A Plan object, or a plan file's path checked against the model.
Plan plan_arg(const py::object& plan, const hilsim::graph::Graph& model) {
  if (py::isinstance<Plan>(plan)) {
    Plan p = plan.cast<Plan>();
    hilsim::partition::check_plan_applies(p, model, "plan");
    return p;
  }
  const std::string path = path_arg(plan, "plan");
  Plan p = hilsim::partition::load_plan(path);
  hilsim::partition::check_plan_applies(p, model, path);
  return p;
}

}  // namespace

void bind_plan(py::module_& m) {
  py::class_<Plan>(m, "Plan", "A plan from hilsim.plan() or hilsim.load_plan(): per-op formats, predicted ms.")
      .def_readonly("model", &Plan::model)
      .def_readonly("profile", &Plan::profile)
      .def_readonly("threads", &Plan::threads)
      .def_readonly("target_ms", &Plan::target_ms)
      .def_readonly("dense_ms", &Plan::dense_ms)
      .def_readonly("saliency", &Plan::saliency, "mean kept saliency over the prunable layers")
      .def_readonly("solver_gap", &Plan::solver_gap)
      .def_property_readonly("predicted_ms", [](const Plan& p) { return p.predicted.ms; })
      .def_property_readonly("layers",
                             [](const Plan& p) {
                               py::dict d;
                               for (const auto& l : p.layers) d[py::str(l.op)] = setting_dict(l);
                               return d;
                             },
                             "{op: {format, block|entries, ratio, unit, dense_ms, ms, kept_saliency}}")
      .def("config", [](const Plan& p) { return p.spec(); }, "the per-op settings as a hilsim.Config")
      .def("to_json", [](const Plan& p) { return hilsim::partition::plan_to_json(p); },
           "the plan file's text, as `hilsim plan --out` writes it")
      .def(
          "save",
          [](const Plan& p, const py::object& path) {
            const std::string f = path_arg(path, "path");
            std::ofstream out(f);
            if (!out) throw hilsim::Error(f, "cannot write the plan");
            out << hilsim::partition::plan_to_json(p) << "\n";
          },
          py::arg("path"))
      .def(
          "masks",
          [](const Plan& p, const py::object& model, const py::object& input_shape, bool allow_unknown) {
            const hilsim::graph::Graph g = load_graph(model, input_shape, allow_unknown);
            hilsim::partition::check_plan_applies(p, g, "plan");
            std::vector<hilsim::partition::LayerMask> masks;
            {
              py::gil_scoped_release release;
              masks = hilsim::partition::plan_masks(g, p);
            }
            py::dict out;
            for (const auto& lm : masks) {
              py::array_t<uint8_t> a(std::vector<py::ssize_t>(lm.shape.begin(), lm.shape.end()));
              std::copy(lm.keep.begin(), lm.keep.end(), a.mutable_data());
              py::dict d;
              d["keep"] = a;
              d["format"] = lm.label;
              d["kept_saliency"] = lm.kept_saliency;
              out[py::str(lm.op)] = d;
            }
            return out;
          },
          py::arg("model"), py::arg("input_shape") = py::none(), py::arg("allow_unknown") = false,
          "{op: {keep: uint8 array (OIHW, 1 = kept), format, kept_saliency}} for the plan's sparse convs, from\n"
          "MODEL's real weights by the kernels' mask library: the zeros `hilsim emit` writes.")
      .def("__repr__", [](const Plan& p) {
        return "<hilsim.Plan " + p.model + " on " + p.profile + ": " + std::to_string(p.predicted.ms) + " ms (dense " +
               std::to_string(p.dense_ms) + " ms), " + std::to_string(p.layers.size()) + " layers>";
      });

  m.def(
      "plan",
      [](const py::object& model, const py::object& profile, const py::object& target_ms,
         const py::object& target_speedup, const py::object& formats, double max_ratio, bool keep_first_last,
         const py::object& threads, const std::string& unit, const py::object& input_shape, bool allow_unknown) {
        hilsim::partition::PlanOptions o;
        o.target_ms = target_ms.is_none() ? 0 : plain(target_ms).cast<double>();
        o.target_speedup = target_speedup.is_none() ? 0 : plain(target_speedup).cast<double>();
        if (target_ms.is_none() == target_speedup.is_none())
          throw hilsim::Error("target_ms=/target_speedup=", "give exactly one of them");
        if (!(o.target_ms > 0) && !(o.target_speedup > 0))
          throw hilsim::Error(target_ms.is_none() ? "target_speedup=" : "target_ms=", "must be positive");
        o.formats = formats_arg(formats);
        o.max_ratio = max_ratio;
        o.keep_first_last_dense = keep_first_last;
        o.threads = threads_arg(threads, 1);
        o.unit = unit;
        const std::string model_name = path_arg(model, "model");
        const std::string profile_path = path_arg(profile, "profile");
        const hilsim::graph::Graph g = load_graph(model, input_shape, allow_unknown);
        const hilsim::model::Profile prof = hilsim::model::load_profile(profile_path);
        py::gil_scoped_release release;
        return hilsim::partition::make_plan(g, model_name, prof, profile_path, o);
      },
      py::arg("model"), py::arg("profile"), py::arg("target_ms") = py::none(), py::arg("target_speedup") = py::none(),
      py::arg("formats") = "block", py::arg("max_ratio") = 0.95, py::arg("keep_first_last") = true,
      py::arg("threads") = py::none(), py::arg("unit") = "", py::arg("input_shape") = py::none(),
      py::arg("allow_unknown") = false,
      "As `hilsim plan`: per-layer formats, block sizes and ratios keeping the most saliency within target_ms\n"
      "(or target_speedup over dense) on the profile. formats: 'block,pattern' or a list of block, block_col,\n"
      "pattern, csr. An unreachable target raises hilsim.Error naming the fastest reachable latency.");
  m.def(
      "load_plan", [](const py::object& path) { return hilsim::partition::load_plan(path_arg(path, "path")); },
      py::arg("path"), "a plan file written by `hilsim plan --out` or Plan.save()");
  m.def(
      "emit",
      [](const py::object& model, const py::object& plan, const py::object& out, const py::object& input_shape,
         bool allow_unknown) {
        const hilsim::graph::Graph g = load_graph(model, input_shape, allow_unknown);
        const Plan p = plan_arg(plan, g);
        const std::string dir = path_arg(out, "out");
        py::gil_scoped_release release;
        const hilsim::partition::EmitResult r = hilsim::partition::emit_model(g, p);
        hilsim::partition::write_emitted(r, p, dir);
        return std::vector<std::string>{dir + "/model.onnx", dir + "/weights.hpk", dir + "/plan.json"};
      },
      py::arg("model"), py::arg("plan"), py::arg("out"), py::arg("input_shape") = py::none(),
      py::arg("allow_unknown") = false, "As `hilsim emit`: the pruned ONNX, packed weights and plan in directory OUT.");
  m.def(
      "validate",
      [](const py::object& dir, const py::object& profile, int repeat) {
        const std::string d = path_arg(dir, "dir");
        hilsim::model::Profile prof;
        const bool with_profile = !profile.is_none();
        if (with_profile) prof = hilsim::model::load_profile(path_arg(profile, "profile"));
        if (repeat < 1) throw hilsim::Error("repeat=" + std::to_string(repeat), "must be >= 1");
        hilsim::partition::Validation v;
        {
          py::gil_scoped_release release;
          v = hilsim::partition::validate_emitted(d, with_profile ? &prof : nullptr, repeat);
        }
        const int threads = hilsim::partition::load_plan(d + "/plan.json").threads;  // what the run used
        nlohmann::json j = hilsim::partition::validation_json(d, threads, v, true);
        j["packed_convs"] = v.packed_convs;
        return to_py(j);
      },
      py::arg("dir"), py::arg("profile") = py::none(), py::arg("repeat") = 20,
      "As `hilsim validate --json`: numerics of DIR's packed weights vs the reference, measured vs predicted ms.");
}

}  // namespace hilsim_py

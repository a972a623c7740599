// hilsim.run / calibrate / profiles: the hardware in the loop from Python — the model on this machine's
// kernels (as `hilsim run`), a fitted profile of this machine (as `hilsim calibrate`), and the profiles
// on disk with how each matches this machine (as `hilsim profiles`).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <filesystem>

#include "bind_common.h"
#include "hilsim/calibration/calibrator.h"
#include "hilsim/calibration/device_facts.h"
#include "hilsim/model/profile.h"
#include "hilsim/partition/planner.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/model/kernel_names.h"
#include "hilsim/runtime/measurement_json.h"
#include "hilsim/runtime/run_config.h"

namespace hilsim_py {

namespace {

py::dict profile_dict(const std::string& path, const hilsim::model::Profile& p,
                      const std::vector<hilsim::model::DeviceMismatch>& mismatches) {
  py::dict d;
  d["path"] = path;
  d["name"] = p.device.name;
  d["provenance"] = p.provenance;
  d["cpu_model"] = p.device.cpu_model;
  d["cores"] = p.device.cores;
  d["calibrated_at"] = p.device.calibrated_at;
  d["matches_this_machine"] = mismatches.empty();
  py::list mm;
  for (const auto& m : mismatches) mm.append(m.text);
  d["mismatches"] = mm;
  py::list units;
  for (const auto& u : p.units) units.append(u.id);
  d["units"] = units;
  py::dict fit;
  for (const auto& [k, km] : p.kernels) fit[py::str(k)] = km.fit_rmspe;
  d["fit_rmspe_pct"] = fit;
  d["energy_source"] = p.energy.source;
  return d;
}

}  // namespace

void bind_run(py::module_& m) {
  m.def(
      "run",
      [](const py::object& model, const py::object& threads, int repeat, int warmup, const py::object& sparsity,
         const py::object& plan, const std::string& units, const py::object& input_shape, bool allow_unknown) {
        if (repeat < 1 || warmup < 0)
          throw hilsim::Error("repeat=/warmup=", "repeat must be >= 1 and warmup >= 0");
        if (!sparsity.is_none() && !plan.is_none()) throw hilsim::Error("sparsity=/plan=", "give one of them, not both");
        const hilsim::graph::Graph g = load_graph(model, input_shape, allow_unknown);
        hilsim::runtime::RunConfigRequest req;
        int plan_threads = 1;
        hilsim::runtime::SparsitySpec spec;
        if (!plan.is_none()) {
          hilsim::partition::Plan p;
          if (py::isinstance<hilsim::partition::Plan>(plan)) {
            p = plan.cast<hilsim::partition::Plan>();
          } else {
            p = hilsim::partition::load_plan(path_arg(plan, "plan"));
          }
          hilsim::partition::check_plan_applies(p, g, "plan");
          plan_threads = p.threads;
          spec = p.spec();
        } else if (!sparsity.is_none()) {
          // The Config/dict/SPEC forms predict() takes.
          spec = spec_arg(sparsity);
        }
        req.threads = threads_arg(threads, plan_threads);
        req.units = units;
        hilsim::runtime::ExecOptions eo = hilsim::runtime::make_exec_options(req);
        eo.sparsity = spec;
        for (const auto& [name, ls] : spec.layers) {
          if (ls.unit.empty()) continue;
          if (eo.units.empty())
            throw hilsim::Error("op '" + name + "'", "assigned to unit '" + ls.unit + "' but no units= were given");
          eo.op_unit[name] = ls.unit;
        }
        py::dict r;
        py::list ops;
        {
          std::unique_ptr<hilsim::runtime::Executor> ex;
          hilsim::runtime::Measurement ms;
          {
            py::gil_scoped_release release;
            ex = std::make_unique<hilsim::runtime::Executor>(g, eo);
            const hilsim::runtime::TensorMap inputs = hilsim::runtime::random_inputs(ex->compiled_graph());
            ms = hilsim::runtime::measure(*ex, inputs, warmup, repeat);
          }
          const auto& cops = ex->ops();
          for (size_t i = 0; i < cops.size(); ++i) {
            nlohmann::json jo = hilsim::runtime::measured_op_json(cops[i], ms.op_ms_median[i]);
            jo["class"] = hilsim::model::run_op_class(cops[i].type, cops[i].kernel);
            ops.append(to_py(jo));
          }
          r["total"] = to_py(hilsim::runtime::measured_total_json(*ex, ms));
        }
        r["ops"] = ops;
        r["threads"] = req.threads;
        return r;
      },
      py::arg("model"), py::arg("threads") = py::none(), py::arg("repeat") = 20, py::arg("warmup") = 3,
      py::arg("sparsity") = py::none(), py::arg("plan") = py::none(), py::arg("units") = "",
      py::arg("input_shape") = py::none(), py::arg("allow_unknown") = false,
      "As `hilsim run --json`: MODEL on hilsim's kernels on this machine, per-op and total times (median, p10,\n"
      "p90 of `repeat` runs after `warmup`). sparsity: a Config, {op: setting} or SPEC; plan: a Plan or its file.");
  m.attr("measure") = m.attr("run");

  m.def(
      "calibrate",
      [](const py::object& out, double budget_s, const py::object& classes, bool resume, int max_threads) {
        hilsim::calibration::CalibrateOptions o;
        o.out = path_arg(out, "out");
        if (!(budget_s > 0)) throw hilsim::Error("budget_s=", "must be positive");
        o.budget_s = budget_s;
        o.resume = resume;
        o.max_threads = max_threads;
        if (!classes.is_none())
          for (auto c : classes) o.classes.push_back(py::str(c).cast<std::string>());
        hilsim::calibration::CalibrateResult r;
        {
          py::gil_scoped_release release;
          r = hilsim::calibration::calibrate(o);
        }
        if (r.profile.device.name.empty()) r.profile.device.name = "this machine";
        hilsim::model::save_profile(r.profile, o.out);
        py::dict d = profile_dict(o.out, r.profile, {});
        d["wall_s"] = r.wall_s;
        d["samples"] = r.samples.samples.size();
        return d;
      },
      py::arg("out"), py::arg("budget_s") = 120.0, py::arg("classes") = py::none(), py::arg("resume") = false,
      py::arg("max_threads") = 0,
      "As `hilsim calibrate --out OUT --budget-s S`: measures this machine's kernels and writes the fitted profile\n"
      "(samples beside it); returns its summary.");

  m.def(
      "profile_info",
      [](const py::object& path) {
        const std::string p = path_arg(path, "profile");
        const hilsim::model::Profile prof = hilsim::model::load_profile(p);
        return profile_dict(p, prof, hilsim::model::device_mismatches(prof.device, hilsim::calibration::detect_device("/")));
      },
      py::arg("path"), "one profile's summary: device, provenance, units, fit error per kernel class, mismatches here");

  m.def(
      "profiles",
      [](const py::object& dir) {
        namespace fs = std::filesystem;
        const std::string d = path_arg(dir, "dir");
        std::error_code ec;
        if (!fs::is_directory(d, ec)) throw hilsim::Error(d, "is not a directory of profiles");
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(d, ec)) {
          const std::string n = e.path().filename().string();
          if (e.path().extension() == ".json" && n.find(".samples.") == std::string::npos &&
              n.find(".checkpoint") == std::string::npos)
            files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        const hilsim::model::DeviceInfo here = hilsim::calibration::detect_device("/");
        py::list out;
        for (const auto& f : files) {
          try {
            const hilsim::model::Profile p = hilsim::model::load_profile(f.string());
            out.append(profile_dict(f.string(), p, hilsim::model::device_mismatches(p.device, here)));
          } catch (const hilsim::Error&) {
            // As `hilsim profiles`: a broken file in the directory is not listed.
          }
        }
        return out;
      },
      py::arg("dir"), "the profiles in DIR (as `hilsim profiles`), each with how it matches this machine");
}

}  // namespace hilsim_py

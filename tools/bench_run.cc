// `hilsim bench-run`: whole-model latency of the executor against the sum of oneDNN's times for the
// same convolutions (same shapes, same fused activation, oneDNN's preferred layout), measured in the
// same run: what the executor's memory-bound ops and scheduling cost on top of the convolutions.
#include <gflags/gflags.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "command.h"
#include "common_flags.h"
#include "hilsim/graph/model_source.h"
#include "hilsim/runtime/conv_lowering.h"
#include "hilsim/runtime/executor.h"
#include "hilsim/util/error.h"

#if defined(HILSIM_HAVE_BASELINES)
#include "baselines/onednn_conv.h"
#endif

namespace hilsim::cli {
namespace {

#if defined(HILSIM_HAVE_BASELINES)
double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run_bench(const std::vector<std::string>& args) {
  std::vector<std::string> models = args.empty() ? std::vector<std::string>{"zoo:resnet18_like", "zoo:yolov5s_like"} : args;
  const int repeat = FLAGS_quick ? 5 : 11;
  nlohmann::json out = nlohmann::json::array();
  std::printf("%-22s %7s %12s %14s %7s %16s\n", "model", "threads", "executor ms", "oneDNN convs", "ratio", "block8x4@0.8");
  for (const auto& m : models) {
    const graph::Graph g = graph::load_model(m);
    for (int threads : {1, 2}) {
      bench::set_onednn_threads(threads);
      runtime::ExecOptions eo;
      eo.threads = threads;
      runtime::Executor ex(g, eo);
      const runtime::TensorMap in = runtime::random_inputs(ex.compiled_graph());
      const double ours = runtime::measure(ex, in, 2, repeat).ms_median;
      runtime::ExecOptions so = eo;
      so.sparsity = runtime::parse_sparsity_spec("block:8x4@0.8");
      runtime::Executor sx(g, so);
      const double sparse = runtime::measure(sx, in, 2, repeat).ms_median;
      // oneDNN, conv by conv, on the compiled graph's shapes and epilogues.
      const graph::Graph& cg = ex.compiled_graph();
      double dnnl_sum = 0;
      for (graph::OpId id : cg.topological_order()) {
        const graph::Op& op = cg.op(id);
        if (op.type != "Conv") continue;
        const kernels::ConvShape cs = runtime::conv_shape_of(cg, op);
        const graph::Tensor* w = cg.constant(op.inputs[1]);
        const graph::Tensor* b = op.input(2) ? cg.constant(*op.input(2)) : nullptr;
        bench::OnednnConv conv(cs, w->f32.data(), b ? b->f32.data() : nullptr, runtime::epilogue_of(op));
        std::vector<float> x(static_cast<size_t>(cs.n * cs.c * cs.h * cs.w), 0.5f);
        conv.set_input_nchw(x.data());
        std::vector<double> t;
        for (int i = 0; i < 2; ++i) conv.run();
        for (int i = 0; i < repeat; ++i) {
          const auto t0 = std::chrono::steady_clock::now();
          conv.run();
          t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        dnnl_sum += median_of(t);
      }
      std::printf("%-22s %7d %12.3f %14.3f %6.2fx %10.3f (%.2fx)\n", m.c_str(), threads, ours, dnnl_sum, ours / dnnl_sum,
                  sparse, ours / sparse);
      out.push_back({{"model", m}, {"threads", threads}, {"executor_ms", ours}, {"onednn_conv_sum_ms", dnnl_sum},
                     {"ratio", ours / dnnl_sum}, {"block_8x4_0.8_ms", sparse}, {"sparse_speedup", ours / sparse}});
    }
  }
  if (FLAGS_json) print_json({{"results", out}});
  return kExitOk;
}
#else
int run_bench(const std::vector<std::string>&) {
  throw Error("bench-run", "this build has no baselines (configure with HILSIM_BUILD_BENCH=ON)");
}
#endif

const Register reg({"bench-run", "whole-model executor latency vs the sum of oneDNN's conv times, same run",
                    "hilsim bench-run [MODEL ...] [--quick] [--json]\n\n"
                    "For each model (default: zoo:resnet18_like, zoo:yolov5s_like) at 1 and 2 threads: the\n"
                    "executor's median latency, the sum of oneDNN's median times for the same convolutions (same\n"
                    "shapes and fused activations, its preferred layout), their ratio, and the block 8x4 @ 0.8\n"
                    "latency with its speed-up over dense.",
                    {"quick", "json"}, run_bench});

}  // namespace
}  // namespace hilsim::cli

// From an emitted plan (the canonical graph with the plan's masks applied, and the sparse convs packed
// as the runtime packs them) to the sources of a self-contained library: one function per op, the
// memory plan baked in as constant offsets into one workspace, and the weights as one binary blob that
// the library embeds with .incbin. Convs call the runtime's prepared kernels (shipped_kernels.h: their
// sources are compiled into the library) by default, or a generated variant (shape, row height, tile,
// loop order and epilogue as compile-time constants) where tuning chose one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hilsim/graph/graph.h"
#include "hilsim/partition/packed_model.h"

namespace hilsim::codegen {

// How one conv's kernel is instantiated: filters per row, vectors per output tile, and the loop order
// (block_tiles 0: each row over the whole image, its weights stay in L1; k: k tiles of pixels at a time,
// all rows over them, their input stays in cache).
// fb = 0 is the runtime's own prepared kernel (kernels/dense_conv, depthwise_conv, sparse_conv, compiled
// into the library): the default, and the one the device profile's predictions are for.
struct ConvVariant {
  int fb = 8;  // dense and grouped convs only; packed sparse convs keep their row height
  int nv = 2;
  int block_tiles = 8;
  bool operator==(const ConvVariant& o) const { return fb == o.fb && nv == o.nv && block_tiles == o.block_tiles; }
  std::string str() const;  // e.g. "fb8_nv2_b8", or "runtime"
  bool runtime() const { return fb == 0; }
  static ConvVariant runtime_kernel() { return {0, 0, 0}; }
};

// The variants the tuner times for a conv whose row height is fixed (sparse) or free (dense).
std::vector<ConvVariant> conv_variants(bool row_height_free, int packed_fb);

struct GeneratedOp {
  std::string op, type;
  std::string kernel;  // what the generated function calls, e.g. "conv_rows<8,2,silu,rows>"
  bool conv = false;
  bool row_height_free = false;  // a conv packed here (dense, grouped, depthwise)
  int packed_fb = 0;             // a sparse conv's row height from the packed weights
  ConvVariant variant;
  int64_t macs_executed = 0;
};

struct GeneratedOutput {
  std::string name;
  graph::Shape shape;
  int64_t offset = 0;  // floats into the output buffer
};

struct GeneratedLibrary {
  std::map<std::string, std::string> files;  // file name -> text (model.h, model.cc, model_kernels.h, model_bench.cc)
  std::string weights;                       // model_weights.bin
  std::string input_name;
  graph::Shape input_shape;
  std::vector<GeneratedOutput> outputs;
  int64_t input_elems = 0, output_elems = 0, workspace_bytes = 0, arena_bytes = 0;
  std::vector<GeneratedOp> ops;
};

// `variants`: op name -> the conv variant to instantiate (from tuning); others take the default.
// `tuning_harness`: also compile every candidate variant of every conv into the library, behind
// hilsim_model_tune_run(), which the tuner times. Throws Error naming the op for anything the
// generator does not support yet.
GeneratedLibrary generate_library(const graph::Graph& canonical, const partition::PackedModel& packed,
                                  const std::map<std::string, ConvVariant>& variants, bool tuning_harness = false);

}  // namespace hilsim::codegen

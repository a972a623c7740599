// Roofline ceilings of this machine, measured rather than read from a data sheet: memory bandwidth by
// a STREAM-style triad over buffers far larger than the last-level cache, and peak FLOP/s by the
// dense GEMM micro-kernel on a problem that stays in L1. Both become samples ("stream", "peak") so a
// re-fit needs no re-measurement.
#pragma once

#include <cstdint>

#include "hilsim/calibration/samples.h"

namespace hilsim::calibration {

// Triad a[i] = b[i] + s * c[i] on `threads` threads over three buffers of `bytes_per_buffer`; the
// best of `reps` runs. Sample class "stream", features bytes (moved, 3 streams) and threads.
Sample measure_stream(int threads, int64_t bytes_per_buffer = int64_t{64} << 20, int reps = 4);

// The active ISA's GEMM micro-kernel on packed in-cache panels, each thread on its own tile. Sample
// class "peak", features flops and threads. Bursts start at `calls` micro-kernel calls per thread and
// grow until one lasts 5 ms; the best rate over at least `seconds` (and two bursts) counts.
Sample measure_peak(int threads, double seconds = 0.05, int calls = 2000);

// GB/s of a "stream" sample, GFLOP/s of a "peak" sample.
double stream_gbps(const Sample& s);
double peak_gflops(const Sample& s);

}  // namespace hilsim::calibration

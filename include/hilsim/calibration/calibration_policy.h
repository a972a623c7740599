// Every tuned value of calibration in one place: how the budget is shared, how samples are sized and
// repeated, how the host's speed is read and its slow phases waited out, and how the fit treats noise.
// Each carries its default, why, and where it was measured. Both calibrators (the CLI's in-context one
// and the phone binary's kernel-direct one) and the fit read them from here; tests set fields to reach
// a branch. Values measured on the 2-core cloud VMs the project runs on (x86 AVX-512/AVX2, whose vCPUs
// run at 0.9-1.9x their undisturbed speed from one second to the next) unless said otherwise.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hilsim::calibration {

struct CalibrationPolicy {
  // ---- the budget
  // Share of the budget the in-context model runs may take: they are what whole-model predictions are
  // made of, and the rest keeps the one-op grid (the fit's range between them) running.
  double context_share = 0.55;
  // Passes of each in-context run, split over context_visits visits far apart in the calibration (the
  // first before the grid, the others after it), each layer keeping its fastest visit. A run of a few
  // seconds falls within one speed phase of the host, while the ground truth that predictions are
  // checked against is the p10 of runs spread over minutes; one visit put a class wherever the host
  // happened to be. Two back-to-back calibrations (AMD EPYC VM, 2 vCPUs) timed the same in-context
  // layers a median 7.4% apart (p90 43%) with one visit of 7 passes, 2.5% (p90 15%) with two of 4.
  // Three passes a visit (6 in all) leave time for the third column of context_runs().
  int context_repeats = 6;
  int context_visits = 2;
  // Visits of each grid point, the later ones after the context revisits: a point's timed rounds last
  // tens of ms, so one visit times it in a single speed phase (the same grid points in two calibrations
  // a few minutes apart differed by a median 15-19%, p90 55-70%). But the grid's share of the budget is
  // split over its visits, and at 120 s a second visit left gemm at 1 thread 9 samples, all one-row
  // classifiers, whose per-MAC rate then priced ConvNeXt's token GEMMs at 10x: one visit, the coverage.
  int grid_visits = 1;
  // A conv or GEMM point whose speed-up from one thread to all of them strays beyond
  // twin_recheck_spread x its class's median speed-up (with at least twin_recheck_min_pairs pairs) is
  // timed again, both twins, after a wait for a fast phase, within twin_recheck_share of the budget;
  // each keeps its faster visit. A 116 MMAC token GEMM once timed 1.08x faster on 2 threads than on 1
  // (another calibration minutes later: 1.60x); as the class's only many-row GEMM at 2 threads it
  // priced ConvNeXt's token GEMMs 50% over on 2 threads (AMD EPYC VM, 2 vCPUs).
  double twin_recheck_spread = 1.3;
  int twin_recheck_min_pairs = 4;
  double twin_recheck_share = 0.08;
  // The gpu unit's share of its own budget for its context runs (the grid fills the gaps between them).
  double gpu_context_share = 0.5;
  // Share of the budget the initial space-filling design is sized to, at design_sample_s a sample;
  // the rest goes to adaptive rounds where the fit is worst. Points per (class, threads) are clamped.
  double design_share = 0.6;
  double design_sample_s = 0.05;
  int design_min_points = 4, design_max_points = 24;

  // ---- sample sizes
  // One conv sample stays a few ms; memory-bound samples stay within a few tens of MiB.
  int64_t max_sample_macs = 120'000'000;
  int64_t max_sample_elements = 3'000'000;
  // Shares of a class's design given to the layer kinds real networks have and the plain grid missed
  // (its fourth/fifth design coordinate at or above these): grouped convs in the dense 1x1 and 3x3
  // classes (a 16-channel-group 3x3 conv ran 35-40% over the ungrouped fit), weight matrices far
  // beyond the last-level cache in gemm (a 4096x4096 head ran 58-61% over), global pools in pool
  // (predicted at +130% from windowed pools).
  double grouped_conv_share = 0.7;
  // Late layers at low resolution in the dense 3x3 class (below this share of the design's third
  // coordinate): maps of 2-8 pixels a side, 256-2048 channels, MiBs of weights for a few pixels, the
  // kernel's pixel rows (kernels/dense_tiling). Drawn from 4-160 pixels and 8-1024 channels the design
  // held none, and ResNeXt-101's 3x3-map layers ran at 1.5x their prediction on 2 threads. (Their 1x1
  // twins run as GEMMs, kernels::dense_conv_gemm_rows: the gemm class's samples.)
  double late_layer_share = 0.15;
  double far_gemm_share = 0.75;
  double global_pool_share = 0.8;
  // GEMMs over many rows (a Linear over a ConvNeXt's or a transformer's H x W tokens, 4-3136 rows) from
  // this share of the gemm design's third coordinate: fitted on one-row classifiers alone, the per-MAC
  // cost of a memory-bound GEMV put convnext_base at 7-10x its measured time.
  double token_gemm_share = 0.6;
  // Concats of many inputs
  // (DenseNet blocks: 8-64 inputs of 8-64 channels) from this share of the concat design's fourth
  // coordinate (ran ~50% over a fit on two inputs); standalone batch norms (a per-channel affine pass,
  // one tensor read where an add reads two) from this share of the elementwise design's (ran ~25% over).
  double many_input_concat_share = 0.5;
  // Concats along the last axis (a detector head's per-pixel pieces: thousands of short runs) from the
  // inner_axis_concat_share below many_input_concat_share of the same coordinate: fitted on channel
  // concats alone, YOLOv5's head concat ran at 5x its prediction.
  double inner_axis_concat_share = 0.2;
  // Share of the copy class's grid points that are strided copies (kernels::strided_copy), half NCHW ->
  // NHWC transposes (cache-sized tiles), half a detector head's split of per-pixel rows into two runs:
  // plain Flatten copies alone priced YOLO's head Transpose and Split (runs of 2, 2 and 81 floats) at
  // 0.3-0.45x their time (AMD EPYC Zen 4).
  double strided_copy_share = 0.5;
  double affine_share = 0.6;
  // Per-channel scales (squeeze-excite's and layer scale's Mul of [1, c, h, w] by a computed [1, c, 1, 1])
  // below this share of the elementwise design's fourth coordinate. The gpu unit's: fitted on same-shape
  // adds alone, whose bytes and elements rise together (12 bytes an element), its per-byte rate priced
  // these (8 bytes an element) at 0.55-0.6x their time on PoCL (ConvNeXt, EfficientNet, RegNetY: every
  // one beyond -10%), where one-op timings put them at 1.2x a same-shape Mul. 0 for the CPU, whose design
  // already has per-channel affines (standalone batch norms) beside the adds.
  double channel_scale_share = 0.0;
  // GELUs (ConvNeXt's; an erf approximation per element, graph::OpSpec::math_per_element) from this
  // share of the elementwise design's fourth coordinate up to affine_share: priced per byte as adds,
  // they ran at 4-8x their prediction.
  double unary_math_share = 0.4;
  // Non-overlapping dense convs (kernel == stride, no padding: ConvNeXt's 2x2 s2 downsample convs of
  // 128-1024 channels, its 4x4 s4 stem) count as dense_convkxk: from this share of that class's design
  // (its stride coordinate) its points are those. Fitted on 6x6/7x7 stems of 3-128 channels alone they
  // ran 140-645% over.
  double patchify_kxk_share = 0.5;
  // Image stems (3 input channels, 6x6 or 7x7 at stride 2: YOLOv5's, ResNet's, DenseNet's, SqueezeNet's)
  // below this share of the remaining kxk design's channel coordinate, on 64-320 pixel images. Drawn
  // from 3-128 channels the design held one or two, and the fit, led by the wide-K points, priced real
  // stems at +13..+25% (AMD EPYC Zen 4) against the calibration's own stem sample at -1%.
  double stem_kxk_share = 0.6;
  // Every sparse_stem_every-th point of a sparse class's design is such a stem, block-pruned: the sparse
  // grid's 1x1 and 3x3 layers alone priced SqueezeNet's block 8x4 stem at +20% (1 thread), +46% (2).
  int sparse_stem_every = 6;
  // Copies of a layer per timed round: enough that a round's working set overflows the private caches
  // (cold_round_bytes), as inside a model, at most max_copies. Working sets of far_working_set_bytes
  // or more repeat until the round holds far_round_bytes: one large matrix timed again and again is
  // served by the last-level cache, where inside a model it is not.
  int64_t cold_round_bytes = int64_t{24} << 20;
  int max_copies = 16;
  int64_t far_working_set_bytes = int64_t{8} << 20;
  int64_t far_round_bytes = int64_t{160} << 20;
  int max_far_copies = 8;
  // A series whose p90/p10 is above this is measured once more and the steadier one kept.
  double stable_spread = 1.3;
  // One sample's timed rounds (after two warm-up rounds): at least sample_min_rounds, then on until
  // sample_min_time_s, at most sample_max_rounds. Both backends time a point alike: the phone's own
  // loop ran on to 0.5 s while a series stayed unsteady, so it took fewer samples per class.
  double sample_min_time_s = 0.02;
  int sample_min_rounds = 5, sample_max_rounds = 200;

  // ---- the host's speed
  // Runs of the speed-reference workload at the start and the end (about 0.1 s of a small ResNet),
  // and of the short readings taken every reading_every_s in between (5 runs, 30-50 ms: about 2% of
  // the budget). The host's phases last seconds; readings 8 s apart could not tell which phase a
  // sample was taken in.
  int reference_runs = 20;
  int short_reference_runs = 5;
  double reading_every_s = 2.0;
  // A reading more than slow_phase_ratio x the fast level (the fast_level_quantile of the readings so
  // far) finds the host in a slow phase: measurement waits, re-reading every slow_phase_poll_s, at
  // most slow_phase_max_tries in a row and slow_phase_max_wait_share of the budget in all, so a host
  // slow throughout (a throttled phone) is still measured. A calibration whose first 20 s fell in a
  // slow phase disagreed 20-27% with three others that agreed within 3-6%.
  double slow_phase_ratio = 1.25;
  double fast_level_quantile = 0.1;
  double slow_phase_poll_s = 0.15;
  int slow_phase_max_tries = 20;
  double slow_phase_max_wait_share = 0.25;

  // ---- the fit
  // The drift exponent (how strongly kernels follow the reference's slowdown) is refitted until it
  // moves less than drift_settle, and kept only if it lowers the rms log error of all kernel samples
  // by drift_min_gain: on the VMs readings 2 s apart explained almost none of the scatter, and every
  // exponent above 0 made two calibrations disagree more; a phone throttling over minutes is the case.
  double drift_settle = 0.02;
  double drift_min_gain = 0.05;
  int drift_max_iterations = 3;
  // Lower envelope per class: samples above envelope x the envelope_quantile of measured/predicted
  // are left out (a burst only ever adds time). Two calibrations minutes apart disagreed 30-50% per
  // class with the median as target; 3-7% with the envelope.
  double envelope_quantile = 0.25;
  double envelope = 1.35;
  // Weight of a one-op grid sample against an in-context one of the same class: the grid spans the
  // range, the context samples are the layers predictions are made of.
  double grid_weight = 0.3;
  // A term carried by fewer samples than this is left out of its class's fit (kept at zero): one or two
  // samples cannot separate it from their noise (depthwise 3x3's SiLU term, carried by one 6x6 layer,
  // put EfficientNet's SiLU depthwise layers at 2-3x their time).
  int min_feature_samples = 4;
  // A class with fewer samples than this (per thread count) is fitted with its sibling's samples too
  // (fit.h sibling_class): depthwise 5x5, sampled by 9 grid points and no network in context, fitted
  // 16 terms to them and ran 20-120% over on MnasNet and EfficientNet.
  int thin_class_samples = 30;
  // A class with fewer samples than this many per term it would fit is fitted on its core terms alone
  // (model::core_feature_names; the rest stay at zero). In a 120 s calibration on a host that spent a
  // quarter of it in slow phases, the sparse classes had 15-21 grid samples for 16 terms: the fit went
  // through every sample and put ResNeXt's 1x1 block-sparse layers at 8-10x their time (sparse_fb16 on
  // masked lanes and weight streams), and sparse_fb8's at 1.5x.
  int min_samples_per_term = 3;
  // A compute class whose fitted activation-epilogue rate (act_bytes) lies more than this factor above or
  // below the compute classes' median takes the median (fit.h borrow_act_rate): the SiLU routine is one,
  // whichever kernel ran before it, and sparse_fb8 fitted it from 15 grid points at 0 (one thread) and
  // 8x the median (two), which put the YOLOs' and EfficientNet's block-sparse layers at 0.6-2.7x.
  double act_rate_spread = 2.0;
};

// The policy's values as (name, value) rows, for the calibration's provenance and `--help`.
std::vector<std::pair<std::string, double>> policy_values(const CalibrationPolicy& p);

}  // namespace hilsim::calibration

#include "hilsim/calibration/fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "hilsim/util/error.h"

namespace hilsim::calibration {

std::vector<double> nnls(const std::vector<double>& a_data, size_t rows, size_t cols, const std::vector<double>& b_data) {
  using Eigen::MatrixXd;
  using Eigen::VectorXd;
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> A(a_data.data(), rows, cols);
  Eigen::Map<const VectorXd> b(b_data.data(), rows);
  VectorXd x = VectorXd::Zero(cols);
  std::vector<bool> passive(cols, false);
  const double tol = 1e-12 * std::max(1.0, A.norm()) * std::max(1.0, b.norm());

  auto solve_passive = [&](VectorXd* z) {
    std::vector<int> idx;
    for (size_t j = 0; j < cols; ++j)
      if (passive[j]) idx.push_back(static_cast<int>(j));
    *z = VectorXd::Zero(cols);
    if (idx.empty()) return;
    MatrixXd Ap(rows, idx.size());
    for (size_t k = 0; k < idx.size(); ++k) Ap.col(k) = A.col(idx[k]);
    VectorXd zp = Ap.colPivHouseholderQr().solve(b);
    for (size_t k = 0; k < idx.size(); ++k) (*z)(idx[k]) = zp(k);
  };

  for (int outer = 0; outer < 3 * static_cast<int>(cols) + 10; ++outer) {
    VectorXd w = A.transpose() * (b - A * x);
    int best = -1;
    double wmax = tol;
    for (size_t j = 0; j < cols; ++j)
      if (!passive[j] && w(j) > wmax) wmax = w(j), best = static_cast<int>(j);
    if (best < 0) break;
    passive[best] = true;
    for (int inner = 0; inner < 3 * static_cast<int>(cols) + 10; ++inner) {
      VectorXd z;
      solve_passive(&z);
      bool feasible = true;
      for (size_t j = 0; j < cols; ++j)
        if (passive[j] && z(j) <= 0) feasible = false;
      if (feasible) {
        x = z;
        break;
      }
      // Step from x toward z until the first passive coefficient hits zero, then drop it.
      double alpha = std::numeric_limits<double>::infinity();
      for (size_t j = 0; j < cols; ++j)
        if (passive[j] && z(j) <= 0) alpha = std::min(alpha, x(j) / (x(j) - z(j)));
      x += alpha * (z - x);
      for (size_t j = 0; j < cols; ++j)
        if (passive[j] && std::abs(x(j)) <= 1e-15) passive[j] = false, x(j) = 0;
    }
  }
  return std::vector<double>(x.data(), x.data() + cols);
}

bool anchor_far_rate(model::KernelModel& m, const std::vector<Sample>& samples, double stream_ms_per_byte,
                     int min_carriers) {
  if (!(stream_ms_per_byte > 0)) return false;
  const auto at = [&](const char* name) {
    return static_cast<size_t>(std::find(m.features.begin(), m.features.end(), name) - m.features.begin());
  };
  const size_t far = at("far_bytes"), near = at("bytes");
  if (far >= m.params.size() || near >= m.params.size()) return false;
  int carriers = 0;
  for (const auto& s : samples) carriers += model::feature_value(s.features, "far_bytes") > 0;
  if (carriers >= std::max(1, min_carriers)) return false;
  m.params[far] = std::max(0.0, stream_ms_per_byte - m.params[near]);
  return true;
}

int carriers_of(const std::vector<Sample>& samples, const std::string& feature) {
  return static_cast<int>(std::count_if(samples.begin(), samples.end(), [&](const Sample& s) {
    return model::feature_value(s.features, feature) != 0;
  }));
}

bool borrow_act_rate(model::KernelModel& m, const std::vector<Sample>& samples, double act_ms_per_byte, int min_carriers,
                     double max_spread) {
  if (!(act_ms_per_byte > 0)) return false;
  const auto at = std::find(m.features.begin(), m.features.end(), "act_bytes");
  if (at == m.features.end()) return false;
  const size_t i = static_cast<size_t>(at - m.features.begin());
  if (i >= m.params.size()) return false;
  const double own = m.params[i];
  const bool thin = carriers_of(samples, "act_bytes") < std::max(1, min_carriers);
  const bool stray = max_spread > 1 && (own > max_spread * act_ms_per_byte || own * max_spread < act_ms_per_byte);
  if (!thin && !stray) return false;
  m.params[i] = act_ms_per_byte;
  return true;
}

std::string sibling_class(const std::string& klass) {
  if (klass == "depthwise_conv5x5" || klass == "depthwise_conv7x7") return "depthwise_conv3x3";
  if (klass == "dense_conv5x5") return "dense_conv3x3";
  return "";
}

double rmspe(const model::KernelModel& m, const std::vector<Sample>& samples) {
  if (samples.empty()) return 0;
  double s = 0;
  for (const auto& x : samples) {
    double e = (model::evaluate_model(m, x.features) - fit_ms(x)) / fit_ms(x);
    s += e * e;
  }
  return 100.0 * std::sqrt(s / static_cast<double>(samples.size()));
}

model::KernelModel fit_kernel_class(const std::vector<Sample>& samples, const std::vector<std::string>& all_features,
                                        const CalibrationPolicy& policy) {
  if (samples.empty()) throw Error("fit", "no samples to fit");
  if (all_features.empty()) throw Error("fit", "no features to fit");
  // A term no sample carries was added after these samples were measured: the model is fitted without
  // it (as the samples' own build would have), rather than with a column of zeros.
  // A term carried (non-zero) by fewer than policy.min_feature_samples samples cannot be told apart from
  // those samples' noise: fitted, it absorbs their whole residual (depthwise 3x3's SiLU term, carried by
  // one 6x6 grid layer, charged EfficientNet's 40x40 SiLU layers 3x their time). It stays in the model
  // at zero, where anchor_far_rate may still set it.
  // The per-call terms (the CPU's "call", the device's "launches") are always solved for: every sample
  // carries them, and they are what a class of few samples still has to price. Left to the carrier rule,
  // a gpu class timed in context three times (the copies: three Flattens) fitted no term at all and
  // priced ShuffleNetV2's 74 device copies at 0 ms.
  std::vector<std::string> features;
  std::vector<size_t> fitted;  // indices into features of the terms the fit solves for
  for (const auto& f : all_features) {
    if (f != "call" && std::none_of(samples.begin(), samples.end(), [&](const Sample& s) { return s.features.count(f) != 0; }))
      continue;
    const int carriers = carriers_of(samples, f);
    if (f == "call" || (f == "launches" && carriers > 0) || carriers >= policy.min_feature_samples)
      fitted.push_back(features.size());
    features.push_back(f);
  }
  const std::string& klass = samples.front().klass;
  // Too few samples for every term: only the core ones are solved for (policy.min_samples_per_term).
  if (samples.size() < static_cast<size_t>(std::max(1, policy.min_samples_per_term)) * fitted.size()) {
    const bool gpu = samples.front().unit == "gpu";
    const auto& core = model::core_feature_names(klass, gpu);
    std::vector<size_t> kept;
    for (size_t i : fitted)
      if (std::find(core.begin(), core.end(), features[i]) != core.end()) kept.push_back(i);
    fitted.swap(kept);
  }
  size_t rows = samples.size(), cols = fitted.size();
  // Rows divided by the measured time: least squares on relative error. Columns scaled to unit norm
  // so that MACs (1e9) and calls (1) are equally well conditioned.
  // Layers timed in context (inside whole models, instance "ctx/...") are what predictions are made
  // of; where a class has enough of them the one-op grid samples only keep the fit sane between them.
  size_t in_context = 0;
  for (const auto& s : samples) in_context += s.instance.rfind("ctx/", 0) == 0;
  const double grid_weight = in_context >= 20 ? policy.grid_weight : 1.0;
  // Relative error, but long kernels count a little more (weight sqrt(t / median t), clamped): their
  // timings are steadier and they dominate a model's total.
  std::vector<double> times;
  for (const auto& s : samples) times.push_back(fit_ms(s));
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  const double t_med = std::max(1e-9, times[times.size() / 2]);
  const char* size_feature =
      std::find(features.begin(), features.end(), "macs") != features.end() ? "macs" : "bytes";
  double ctx_max_size = 0;
  for (const auto& x : samples)
    if (x.instance.rfind("ctx/", 0) == 0) ctx_max_size = std::max(ctx_max_size, model::feature_value(x.features, size_feature));
  std::vector<double> weight(rows, 1.0);
  for (size_t r = 0; r < rows; ++r) {
    const double t = fit_ms(samples[r]);
    if (!(t > 0))
      throw Error("fit: class '" + klass + "'", "sample '" + samples[r].instance + "' has a non-positive time");
    // A grid sample larger than every in-context one is all the fit knows there: full weight (the
    // context layers were timed at reduced resolutions; full-resolution layers lie beyond them).
    if (samples[r].instance.rfind("ctx/", 0) != 0 && model::feature_value(samples[r].features, size_feature) <= ctx_max_size)
      weight[r] = grid_weight;
    weight[r] *= std::clamp(std::sqrt(t / t_med), 0.3, 3.0);
  }
  // The weighted quantile q of measured / predicted over `rows_in`.
  auto ratio_quantile = [&](const model::KernelModel& mm, const std::vector<size_t>& rows_in, double q) {
    std::vector<std::pair<double, double>> ratios;  // (measured / predicted, weight)
    double total = 0;
    for (size_t r : rows_in) {
      const double p = model::evaluate_model(mm, samples[r].features);
      if (p > 0) ratios.emplace_back(fit_ms(samples[r]) / p, weight[r]), total += weight[r];
    }
    std::sort(ratios.begin(), ratios.end());
    double acc = 0;
    for (const auto& [x, w] : ratios)
      if ((acc += w) >= q * total) return x;
    return ratios.empty() ? 1.0 : ratios.back().first;
  };
  // Non-negative least squares over the rows in `use`.
  auto solve = [&](const std::vector<size_t>& use) {
    const size_t n = use.size();
    std::vector<double> a(n * cols), b(n), scale(cols, 0.0);
    for (size_t i = 0; i < n; ++i) {
      const size_t r = use[i];
      const double t = fit_ms(samples[r]);
      b[i] = weight[r];
      for (size_t c = 0; c < cols; ++c) {
        a[i * cols + c] = weight[r] * model::feature_value(samples[r].features, features[fitted[c]]) / t;
        scale[c] += a[i * cols + c] * a[i * cols + c];
      }
    }
    for (size_t c = 0; c < cols; ++c) {
      scale[c] = scale[c] > 0 ? std::sqrt(scale[c]) : 1.0;
      for (size_t i = 0; i < n; ++i) a[i * cols + c] /= scale[c];
    }
    std::vector<double> x = nnls(a, n, cols, b);
    model::KernelModel mm;
    mm.model = "linear";
    mm.features = features;
    mm.params.assign(features.size(), 0.0);
    for (size_t c = 0; c < cols; ++c) mm.params[fitted[c]] = x[c] / scale[c];
    // Least squares on relative error favours under-prediction (an over-prediction by x costs more than
    // an under-prediction by x once divided by the smaller time); rescale so the weighted median of
    // measured/predicted is 1.
    const double med = ratio_quantile(mm, use, 0.5);
    if (med > 0 && std::isfinite(med))
      for (double& v : mm.params) v *= med;
    return mm;
  };
  // The lower envelope. A shared host can flip between two speeds 1.6-1.8x apart several times a second
  // (seen here: the same 6 ms workload timed 5.5 ms and 9-10 ms in alternate half-second calls), so a
  // class's samples fall into a fast and a slow population whose mix differs from one calibration to
  // the next; a fit through both lands between them wherever that mix puts it (two calibrations ten
  // minutes apart differed by 30-50% in every class). Samples far above the fast population (more than
  // policy.envelope x its lower quartile of measured/predicted) are set aside and the fit repeated, so the
  // profile describes the undisturbed machine, as the p10 statistic of every sample already aims to.
  // On a quiet host this only drops gross outliers.
  std::vector<size_t> keep(rows);
  for (size_t r = 0; r < rows; ++r) keep[r] = r;
  std::vector<size_t> all = keep;
  model::KernelModel m = solve(keep);
  const size_t min_keep = std::max<size_t>(cols + 2, (rows * 2 + 4) / 5);  // at least 40% of the samples
  for (int it = 0; it < 4; ++it) {
    const double lo = ratio_quantile(m, all, policy.envelope_quantile);
    std::vector<size_t> next;
    for (size_t r : all) {
      const double p = model::evaluate_model(m, samples[r].features);
      if (p > 0 && fit_ms(samples[r]) / p <= policy.envelope * lo) next.push_back(r);
    }
    if (next.size() < min_keep || next == keep) break;
    keep = std::move(next);
    m = solve(keep);
  }
  // Samples with positive times fitted to nothing: no solved term varies over them (none carried, or
  // all carried as zeros). Such a model prices every op of the class at 0 ms; it is an error, never a fit.
  if (std::all_of(m.params.begin(), m.params.end(), [](double v) { return !(v > 0); }))
    throw Error("fit: class '" + klass + "'",
                "no term of its model is carried by its " + std::to_string(rows) +
                    " samples, so the fit would price every op of the class at 0 ms");
  std::vector<Sample> kept;
  for (size_t r : keep) kept.push_back(samples[r]);
  m.samples = static_cast<int>(keep.size());
  for (const auto& f : features) {
    if (f == "call") continue;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& s : samples) {
      double v = model::feature_value(s.features, f);
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    m.valid_range[f] = {lo, hi};
  }
  m.fit_rmspe = rmspe(m, kept);
  return m;
}

}  // namespace hilsim::calibration

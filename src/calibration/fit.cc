#include "hilsim/calibration/fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

constexpr double kGridWeight = 0.3;

double feature_value(const std::map<std::string, double>& f, const std::string& name) {
  if (name == "call") return 1.0;
  auto it = f.find(name);
  return it == f.end() ? 0.0 : it->second;
}

}  // namespace

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

double evaluate_model(const costmodel::KernelModel& m, const std::map<std::string, double>& features, bool* extrapolated) {
  double ms = 0;
  for (size_t i = 0; i < m.features.size(); ++i) ms += m.params[i] * feature_value(features, m.features[i]);
  if (extrapolated) {
    *extrapolated = false;
    for (const auto& [f, range] : m.valid_range) {
      double v = feature_value(features, f);
      // 1% slack: a layer at the exact edge of the grid is not an extrapolation.
      if (v < range.first * 0.99 || v > range.second * 1.01) *extrapolated = true;
    }
  }
  return ms;
}

CompiledModel compile_model(const costmodel::KernelModel& m, const std::string& where) {
  CompiledModel c;
  for (size_t i = 0; i < m.features.size() && i < m.params.size(); ++i) {
    const int slot = feature_index(m.features[i]);
    if (slot < 0) throw Error(where + ": feature '" + m.features[i] + "'", "is not a feature this build knows");
    c.coef[static_cast<size_t>(slot)] += m.params[i];
  }
  for (const auto& [f, range] : m.valid_range) {
    const int slot = feature_index(f);
    if (slot < 0) throw Error(where + ": valid_range feature '" + f + "'", "is not a feature this build knows");
    c.ranges.push_back({slot, range.first, range.second});
  }
  return c;
}

double CompiledModel::evaluate(const FeatureVector& f, bool* extrapolated) const {
  double ms = 0;
  for (size_t i = 0; i < f.size(); ++i) ms += coef[i] * f[i];
  if (extrapolated) {
    *extrapolated = false;
    for (const Range& r : ranges) {
      const double v = f[static_cast<size_t>(r.slot)];
      if (v < r.lo * 0.99 || v > r.hi * 1.01) *extrapolated = true;
    }
  }
  return ms;
}

double rmspe(const costmodel::KernelModel& m, const std::vector<Sample>& samples) {
  if (samples.empty()) return 0;
  double s = 0;
  for (const auto& x : samples) {
    double e = (evaluate_model(m, x.features) - fit_ms(x)) / fit_ms(x);
    s += e * e;
  }
  return 100.0 * std::sqrt(s / static_cast<double>(samples.size()));
}

costmodel::KernelModel fit_kernel_class(const std::vector<Sample>& samples, const std::vector<std::string>& all_features) {
  if (samples.empty()) throw Error("fit", "no samples to fit");
  if (all_features.empty()) throw Error("fit", "no features to fit");
  // A term no sample carries was added after these samples were measured: the model is fitted without
  // it (as the samples' own build would have), rather than with a column of zeros.
  std::vector<std::string> features;
  for (const auto& f : all_features)
    if (f == "call" || std::any_of(samples.begin(), samples.end(), [&](const Sample& s) { return s.features.count(f) != 0; }))
      features.push_back(f);
  const std::string& klass = samples.front().klass;
  size_t rows = samples.size(), cols = features.size();
  // Rows divided by the measured time: least squares on relative error. Columns scaled to unit norm
  // so that MACs (1e9) and calls (1) are equally well conditioned.
  // Layers timed in context (inside whole models, instance "ctx/...") are what predictions are made
  // of; where a class has enough of them the one-op grid samples only keep the fit sane between them.
  size_t in_context = 0;
  for (const auto& s : samples) in_context += s.instance.rfind("ctx/", 0) == 0;
  const double grid_weight = in_context >= 20 ? kGridWeight : 1.0;
  // Relative error, but long kernels count a little more (weight sqrt(t / median t), clamped): their
  // timings are steadier and they dominate a model's total.
  std::vector<double> times;
  for (const auto& s : samples) times.push_back(fit_ms(s));
  std::nth_element(times.begin(), times.begin() + static_cast<long>(times.size() / 2), times.end());
  const double t_med = std::max(1e-9, times[times.size() / 2]);
  std::vector<double> a(rows * cols), b(rows, 1.0), scale(cols, 0.0), weight(rows, 1.0);
  for (size_t r = 0; r < rows; ++r) {
    const double t = fit_ms(samples[r]);
    if (!(t > 0))
      throw Error("fit: class '" + klass + "'", "sample '" + samples[r].instance + "' has a non-positive time");
    if (samples[r].instance.rfind("ctx/", 0) != 0) weight[r] = grid_weight;
    weight[r] *= std::clamp(std::sqrt(t / t_med), 0.3, 3.0);
    b[r] = weight[r];
    for (size_t c = 0; c < cols; ++c) {
      a[r * cols + c] = weight[r] * feature_value(samples[r].features, features[c]) / t;
      scale[c] += a[r * cols + c] * a[r * cols + c];
    }
  }
  for (size_t c = 0; c < cols; ++c) {
    scale[c] = scale[c] > 0 ? std::sqrt(scale[c]) : 1.0;
    for (size_t r = 0; r < rows; ++r) a[r * cols + c] /= scale[c];
  }
  std::vector<double> x = nnls(a, rows, cols, b);
  costmodel::KernelModel m;
  m.model = "linear";
  m.features = features;
  for (size_t c = 0; c < cols; ++c) m.params.push_back(x[c] / scale[c]);
  // Least squares on relative error favours under-prediction (an over-prediction by x costs more than
  // an under-prediction by x once divided by the smaller time); rescale so the weighted median of
  // measured/predicted is 1.
  {
    std::vector<std::pair<double, double>> ratios;  // (measured / predicted, weight)
    double total = 0;
    for (size_t r = 0; r < rows; ++r) {
      const double p = evaluate_model(m, samples[r].features);
      if (p > 0) ratios.emplace_back(fit_ms(samples[r]) / p, weight[r]), total += weight[r];
    }
    std::sort(ratios.begin(), ratios.end());
    double acc = 0, med = 1;
    for (const auto& [q, w] : ratios)
      if ((acc += w) >= total / 2) {
        med = q;
        break;
      }
    if (med > 0 && std::isfinite(med))
      for (double& v : m.params) v *= med;
  }
  m.samples = static_cast<int>(rows);
  for (const auto& f : features) {
    if (f == "call") continue;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const auto& s : samples) {
      double v = feature_value(s.features, f);
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    m.valid_range[f] = {lo, hi};
  }
  m.fit_rmspe = rmspe(m, samples);
  return m;
}

}  // namespace hilsim::calibration

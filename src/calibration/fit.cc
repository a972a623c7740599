#include "hilsim/calibration/fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "hilsim/util/error.h"

namespace hilsim::calibration {

namespace {

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

double rmspe(const costmodel::KernelModel& m, const std::vector<Sample>& samples) {
  if (samples.empty()) return 0;
  double s = 0;
  for (const auto& x : samples) {
    double e = (evaluate_model(m, x.features) - x.ms_median) / x.ms_median;
    s += e * e;
  }
  return 100.0 * std::sqrt(s / static_cast<double>(samples.size()));
}

costmodel::KernelModel fit_kernel_class(const std::vector<Sample>& samples, const std::vector<std::string>& features) {
  if (samples.empty()) throw Error("fit", "no samples to fit");
  if (features.empty()) throw Error("fit", "no features to fit");
  const std::string& klass = samples.front().klass;
  size_t rows = samples.size(), cols = features.size();
  // Rows divided by the measured time: least squares on relative error. Columns scaled to unit norm
  // so that MACs (1e9) and calls (1) are equally well conditioned.
  std::vector<double> a(rows * cols), b(rows, 1.0), scale(cols, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    if (!(samples[r].ms_median > 0))
      throw Error("fit: class '" + klass + "'", "sample '" + samples[r].instance + "' has a non-positive time");
    for (size_t c = 0; c < cols; ++c) {
      a[r * cols + c] = feature_value(samples[r].features, features[c]) / samples[r].ms_median;
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

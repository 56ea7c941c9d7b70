#pragma once
/// @file
/// Synthetic problems with a known optimum or a known attainable accuracy, for tests,
/// examples and benchmarks. Every generator is deterministic given its seed, on every platform.

#include <asgd/problems/data.hpp>
#include <asgd/problems/linear.hpp>
#include <asgd/problems/softmax_regression.hpp>
#include <asgd/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0::problems {

/// A least-squares problem and its exact minimiser.
template <class Problem>
struct least_squares_instance {
  Problem problem;
  std::vector<float> optimum;   ///< argmin of the mean loss (normal equations, in double)
  double optimal_loss = 0.0;    ///< the mean loss at `optimum`
};

/// A classification problem and the accuracy of the model that generated its labels.
template <class Problem>
struct classification_instance {
  Problem problem;
  std::vector<float> truth;       ///< the generating model (where one exists)
  double reference_accuracy = 0;  ///< accuracy of the generating (Bayes) classifier on the data
};

namespace detail_synthetic {

inline void require_shape(std::size_t rows, std::size_t cols, const char* what) {
  if (rows == 0 || cols == 0) {
    throw std::invalid_argument(std::string("asgd: ") + what + " needs rows > 0 and cols > 0, got " +
                                std::to_string(rows) + " x " + std::to_string(cols));
  }
}

// Solves the normal equations A^T A x = A^T y in double; returns x and the mean loss there.
// LDL^T in plain loops (the reference problems have tens of columns; Eigen's solver cost a
// second of compile time in every translation unit that includes this header). A pivot that
// is zero to rounding (rank-deficient A, fewer rows than columns) gets a zero coordinate, so x
// is still a minimiser.
template <class RowVisitor>
std::vector<float> normal_equations(std::size_t rows, std::size_t cols, RowVisitor&& visit, double& loss) {
  std::vector<double> m(cols * cols, 0.0), aty(cols, 0.0), row(cols);  // m: A^T A, lower triangle
  for (std::size_t i = 0; i < rows; ++i) {
    const double y = visit(i, row);
    for (std::size_t j = 0; j < cols; ++j) {
      for (std::size_t k = 0; k <= j; ++k) m[j * cols + k] += row[j] * row[k];
      aty[j] += y * row[j];
    }
  }
  double largest = 0.0;
  for (std::size_t j = 0; j < cols; ++j) largest = std::max(largest, m[j * cols + j]);
  // In place: m's strict lower triangle becomes L, its diagonal D.
  for (std::size_t j = 0; j < cols; ++j) {
    double d = m[j * cols + j];
    for (std::size_t k = 0; k < j; ++k) d -= m[j * cols + k] * m[j * cols + k] * m[k * cols + k];
    const bool zero = !(d > 1e-12 * largest);
    m[j * cols + j] = zero ? 0.0 : d;
    for (std::size_t i = j + 1; i < cols; ++i) {
      double v = m[i * cols + j];
      for (std::size_t k = 0; k < j; ++k) v -= m[i * cols + k] * m[j * cols + k] * m[k * cols + k];
      m[i * cols + j] = zero ? 0.0 : v / d;
    }
  }
  std::vector<double> x = aty;
  for (std::size_t j = 0; j < cols; ++j)  // L z = A^T y
    for (std::size_t k = 0; k < j; ++k) x[j] -= m[j * cols + k] * x[k];
  for (std::size_t j = 0; j < cols; ++j) x[j] = m[j * cols + j] == 0.0 ? 0.0 : x[j] / m[j * cols + j];
  for (std::size_t j = cols; j-- > 0;)  // L^T x = D^-1 z
    for (std::size_t i = j + 1; i < cols; ++i) x[j] -= m[i * cols + j] * x[i];
  loss = 0.0;
  for (std::size_t i = 0; i < rows; ++i) {
    const double y = visit(i, row);
    double r = -y;
    for (std::size_t j = 0; j < cols; ++j) r += row[j] * x[j];
    loss += 0.5 * r * r;
  }
  loss /= static_cast<double>(rows);
  return {x.begin(), x.end()};
}

inline float sigmoid(double z) { return static_cast<float>(1.0 / (1.0 + std::exp(-z))); }

// `rows` rows of N(0, 1) features and their products z_i = <a_i, truth>; targets left to fill.
inline std::shared_ptr<dense_data> gaussian_rows(std::size_t rows, const std::vector<double>& truth, rng& g,
                                                 std::vector<double>& z) {
  const std::size_t cols = truth.size();
  auto data = std::make_shared<dense_data>();
  data->rows = rows;
  data->cols = cols;
  data->features.resize(rows * cols);
  data->targets.resize(rows);
  z.assign(rows, 0.0);
  for (std::size_t i = 0; i < rows; ++i) {
    for (std::size_t j = 0; j < cols; ++j) {
      const auto a = static_cast<float>(g.normal());
      data->features[i * cols + j] = a;
      z[i] += a * truth[j];
    }
  }
  return data;
}

}  // namespace detail_synthetic

/// Dense least squares: features N(0, 1), a true model N(0, 1), targets `<a, x_true> + noise *
/// N(0, 1)`. With rows > cols the minimiser is unique and returned exactly.
inline least_squares_instance<least_squares> make_least_squares(std::size_t rows, std::size_t cols, double noise,
                                                                std::uint64_t seed) {
  detail_synthetic::require_shape(rows, cols, "make_least_squares");
  rng g(seed, 0x15);
  std::vector<double> truth(cols), z;
  for (auto& t : truth) t = g.normal();
  auto data = detail_synthetic::gaussian_rows(rows, truth, g, z);
  for (std::size_t i = 0; i < rows; ++i) data->targets[i] = static_cast<float>(z[i] + noise * g.normal());
  double loss = 0.0;
  auto optimum = detail_synthetic::normal_equations(
      rows, cols,
      [&](std::size_t i, std::vector<double>& row) {
        for (std::size_t j = 0; j < cols; ++j) row[j] = data->features[i * cols + j];
        return static_cast<double>(data->targets[i]);
      },
      loss);
  return {least_squares(std::move(data)), std::move(optimum), loss};
}

/// Dense logistic regression: features N(0, 1), a true model N(0, (scale / sqrt(cols))^2),
/// labels +1 with probability sigmoid(<a, w_true>). The reference accuracy is w_true's.
inline classification_instance<logistic_regression> make_logistic_regression(std::size_t rows, std::size_t cols,
                                                                             std::uint64_t seed,
                                                                             double scale = 4.0) {
  detail_synthetic::require_shape(rows, cols, "make_logistic_regression");
  rng g(seed, 0x10);
  std::vector<double> truth(cols), z;
  for (auto& t : truth) t = static_cast<float>(g.normal() * scale / std::sqrt(static_cast<double>(cols)));
  auto data = detail_synthetic::gaussian_rows(rows, truth, g, z);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    const float y = g.uniform() < detail_synthetic::sigmoid(z[i]) ? 1.0f : -1.0f;
    data->targets[i] = y;
    correct += (z[i] >= 0.0) == (y > 0.0f);
  }
  const double acc = static_cast<double>(correct) / static_cast<double>(rows);
  return {logistic_regression(std::move(data)), std::vector<float>(truth.begin(), truth.end()), acc};
}

namespace detail_synthetic {
// `per_row` distinct columns per row; row i always has column i mod cols, so every column is
// covered once rows >= cols and the least-squares minimiser is unique.
inline std::shared_ptr<csr_data> sparse_rows(std::size_t rows, std::size_t cols, std::size_t per_row, rng& g) {
  if (per_row == 0 || per_row > cols) {
    throw std::invalid_argument("asgd: sparse generator: per_row = " + std::to_string(per_row) + " must be in [1, " +
                                std::to_string(cols) + "]");
  }
  auto data = std::make_shared<csr_data>();
  data->rows = rows;
  data->cols = cols;
  data->row_start.assign(1, 0);
  std::vector<std::uint32_t> picked;
  for (std::size_t i = 0; i < rows; ++i) {
    picked.assign(1, static_cast<std::uint32_t>(i % cols));
    while (picked.size() < per_row) {
      const auto c = static_cast<std::uint32_t>(g.below(cols));
      if (std::find(picked.begin(), picked.end(), c) == picked.end()) picked.push_back(c);
    }
    for (std::uint32_t c : picked) {
      data->column.push_back(c);
      data->value.push_back(static_cast<float>(g.normal()));
    }
    data->row_start.push_back(data->column.size());
  }
  data->targets.resize(rows);
  return data;
}

}  // namespace detail_synthetic

/// Sparse least squares: `per_row` N(0, 1) features per row, targets `<a, x_true>` exactly, so
/// the minimiser is x_true (when rows >= cols) with loss 0.
inline least_squares_instance<sparse_least_squares> make_sparse_least_squares(std::size_t rows, std::size_t cols,
                                                                              std::size_t per_row,
                                                                              std::uint64_t seed) {
  detail_synthetic::require_shape(rows, cols, "make_sparse_least_squares");
  rng g(seed, 0x5a);
  auto data = detail_synthetic::sparse_rows(rows, cols, per_row, g);
  std::vector<float> truth(cols);
  for (auto& t : truth) t = static_cast<float>(g.normal());
  for (std::size_t i = 0; i < rows; ++i) {
    double y = 0.0;
    for (std::size_t k = data->row_start[i]; k < data->row_start[i + 1]; ++k)
      y += static_cast<double>(data->value[k]) * truth[data->column[k]];
    data->targets[i] = static_cast<float>(y);
  }
  return {sparse_least_squares(std::move(data)), std::move(truth), 0.0};
}

/// Sparse logistic regression: `per_row` N(0, 1) features per row, a true model
/// N(0, (scale / sqrt(per_row))^2), labels +1 with probability sigmoid(<a, w_true>).
inline classification_instance<sparse_logistic_regression> make_sparse_logistic_regression(
    std::size_t rows, std::size_t cols, std::size_t per_row, std::uint64_t seed, double scale = 4.0) {
  detail_synthetic::require_shape(rows, cols, "make_sparse_logistic_regression");
  rng g(seed, 0x51);
  auto data = detail_synthetic::sparse_rows(rows, cols, per_row, g);
  std::vector<float> truth(cols);
  for (auto& t : truth) t = static_cast<float>(g.normal() * scale / std::sqrt(static_cast<double>(per_row)));
  std::size_t correct = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    double z = 0.0;
    for (std::size_t k = data->row_start[i]; k < data->row_start[i + 1]; ++k)
      z += static_cast<double>(data->value[k]) * truth[data->column[k]];
    const float y = g.uniform() < detail_synthetic::sigmoid(z) ? 1.0f : -1.0f;
    data->targets[i] = y;
    correct += (z >= 0.0) == (y > 0.0f);
  }
  const double acc = static_cast<double>(correct) / static_cast<double>(rows);
  return {sparse_logistic_regression(std::move(data)), std::move(truth), acc};
}

/// Softmax regression on Gaussian classes: class c has mean mu_c ~ N(0, separation^2) per
/// feature, samples are mu_y + N(0, 1), labels uniform. The reference accuracy is the
/// nearest-mean classifier's, which is Bayes-optimal here (equal isotropic covariances).
inline classification_instance<softmax_regression> make_softmax_regression(std::size_t rows, std::size_t features,
                                                                           std::size_t classes, double separation,
                                                                           std::uint64_t seed) {
  detail_synthetic::require_shape(rows, features, "make_softmax_regression");
  rng g(seed, 0x50);
  std::vector<double> means(classes * features);
  for (auto& m : means) m = separation * g.normal();
  auto data = std::make_shared<dense_data>();
  data->rows = rows;
  data->cols = features;
  data->features.resize(rows * features);
  data->targets.resize(rows);
  std::size_t correct = 0;
  std::vector<double> a(features);
  for (std::size_t i = 0; i < rows; ++i) {
    const std::size_t y = g.below(classes);
    for (std::size_t j = 0; j < features; ++j) {
      a[j] = means[y * features + j] + g.normal();
      data->features[i * features + j] = static_cast<float>(a[j]);
    }
    data->targets[i] = static_cast<float>(y);
    std::size_t best = 0;
    double best_d = 1e300;
    for (std::size_t c = 0; c < classes; ++c) {
      double dist = 0.0;
      for (std::size_t j = 0; j < features; ++j) dist += (a[j] - means[c * features + j]) * (a[j] - means[c * features + j]);
      if (dist < best_d) {
        best_d = dist;
        best = c;
      }
    }
    correct += best == y;
  }
  const double acc = static_cast<double>(correct) / static_cast<double>(rows);
  return {softmax_regression(std::move(data), classes), {}, acc};
}

}  // namespace asgd::inline v0::problems

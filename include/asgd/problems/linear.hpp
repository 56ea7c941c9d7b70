#pragma once
/// @file
/// Linear models: least squares and logistic regression over dense or CSR sparse data.

#include <asgd/concepts.hpp>
#include <asgd/problems/data.hpp>
#include <asgd/sparse.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace asgd::inline v0::problems {

/// Squared loss `(z - y)^2 / 2` of a prediction z against target y.
struct squared_loss {
  static constexpr std::string_view name = "least_squares";
  static constexpr bool classifies = false;
  /// loss and d loss / d z
  static void eval(float z, float y, float& loss, float& slope) noexcept {
    const float r = z - y;
    loss = 0.5f * r * r;
    slope = r;
  }
};

/// Logistic loss `log(1 + exp(-y z))` for labels y in {-1, +1}.
struct logistic_loss {
  static constexpr std::string_view name = "logistic_regression";
  static constexpr bool classifies = true;
  static void eval(float z, float y, float& loss, float& slope) noexcept {
    const float m = -y * z;
    // softplus(m) without overflow, and its derivative sigmoid(m)
    loss = m > 0.0f ? m + std::log1p(std::exp(-m)) : std::log1p(std::exp(m));
    const float s = m > 0.0f ? 1.0f / (1.0f + std::exp(-m)) : std::exp(m) / (1.0f + std::exp(m));
    slope = -y * s;
  }
};

/// A linear model `z = <a, x>` with loss `Loss` over `Data` (dense_data or csr_data). The data
/// is shared between copies (one per worker), so copying is cheap.
///
/// Capabilities: dense gradient; gradient of a block of coordinates (the prediction needs the
/// whole model, the gradient only the block); over csr_data, a sparse gradient that reads and
/// writes only the coordinates of the batch's features (HOGWILD!'s regime); evaluation (mean
/// loss, and accuracy for classification).
template <class Loss, class Data>
class linear_model {
  static constexpr bool sparse = std::is_same_v<Data, csr_data>;

 public:
  static constexpr std::string_view name = Loss::name;

  explicit linear_model(std::shared_ptr<const Data> data) : data_(std::move(data)) {
    data_->validate();
    if constexpr (sparse) distinct_row_columns_ = rows_have_distinct_columns(*data_);
  }

  [[nodiscard]] std::size_t dimension() const noexcept { return data_->cols; }
  [[nodiscard]] std::size_t num_samples() const noexcept { return data_->rows; }
  [[nodiscard]] const Data& data() const noexcept { return *data_; }
  /// Sample i's class (classification only): 1 for a positive target, else 0.
  [[nodiscard]] std::size_t class_of(std::size_t i) const noexcept
    requires(Loss::classifies)
  {
    return data_->targets[i] > 0.0f ? 1 : 0;
  }

  float gradient(std::span<const float> x, batch_view batch, std::span<float> g) const {
    return block_gradient(x, batch, g, {0, dimension()});
  }

  float gradient(std::span<const float> x, batch_view batch, std::span<float> g, param_range r) const {
    return block_gradient(x, batch, g, r);
  }

  /// Sparse gradient: touches only the coordinates of the batch's features.
  float gradient(model_reader x, batch_view batch, sparse_gradient& g) const
    requires sparse
  {
    const Data& d = *data_;
    const float inv = 1.0f / static_cast<float>(batch.size());
    // One sample whose columns are distinct gives distinct indices: no merging needed.
    const bool distinct = batch.size() == 1 && g.empty() && distinct_row_columns_;
    float total = 0.0f;
    for (std::size_t i : batch) {
      const float z = sparse_dot(x, d, i);
      float loss = 0.0f, slope = 0.0f;
      Loss::eval(z, d.targets[i], loss, slope);
      total += loss;
      const float c = slope * inv;
      if (distinct) {
        const std::size_t begin = d.row_start[i], n = d.row_start[i + 1] - begin;
        g.append(std::span(d.column).subspan(begin, n), std::span(d.value).subspan(begin, n), c);
      } else {
        for (std::size_t k = d.row_start[i]; k < d.row_start[i + 1]; ++k) g.add(d.column[k], c * d.value[k]);
      }
    }
    return total * inv;
  }

  /// Mean loss over all samples, and the share classified correctly (sign of z) for
  /// classification losses.
  [[nodiscard]] evaluation evaluate(std::span<const float> x) const {
    double total = 0.0;
    std::size_t correct = 0;
    for (std::size_t i = 0; i < num_samples(); ++i) {
      const float z = predict(x, i);
      float loss = 0.0f, slope = 0.0f;
      Loss::eval(z, data_->targets[i], loss, slope);
      total += loss;
      correct += (z >= 0.0f) == (data_->targets[i] > 0.0f);
    }
    const double n = static_cast<double>(num_samples());
    evaluation e;
    e.loss = total / n;
    if constexpr (Loss::classifies) e.accuracy = static_cast<double>(correct) / n;
    return e;
  }

  /// The prediction z of sample i.
  [[nodiscard]] float predict(std::span<const float> x, std::size_t i) const noexcept {
    const Data& d = *data_;
    if constexpr (sparse) {
      return sparse_dot(model_reader(x), d, i);  // summed as the sparse gradient sums it
    } else {
      return Eigen::Map<const Eigen::VectorXf>(d.row(i).data(), static_cast<Eigen::Index>(d.cols))
          .dot(Eigen::Map<const Eigen::VectorXf>(x.data(), static_cast<Eigen::Index>(d.cols)));
    }
  }

  friend std::ostream& operator<<(std::ostream& os, const linear_model& m) {
    return os << Loss::name << (sparse ? "{sparse, " : "{dense, ") << m.num_samples() << " x " << m.dimension()
              << '}';
  }

 private:
  float block_gradient(std::span<const float> x, batch_view batch, std::span<float> g, param_range r) const {
    const Data& d = *data_;
    std::fill(g.begin(), g.end(), 0.0f);
    const float inv = 1.0f / static_cast<float>(batch.size());
    float total = 0.0f;
    for (std::size_t i : batch) {
      float loss = 0.0f, slope = 0.0f;
      Loss::eval(predict(x, i), d.targets[i], loss, slope);
      total += loss;
      const float c = slope * inv;
      if constexpr (sparse) {
        for (std::size_t k = d.row_start[i]; k < d.row_start[i + 1]; ++k) {
          if (r.contains(d.column[k])) g[d.column[k] - r.begin] += c * d.value[k];
        }
      } else {
        const auto n = static_cast<Eigen::Index>(r.size());
        Eigen::Map<Eigen::VectorXf>(g.data(), n) +=
            c * Eigen::Map<const Eigen::VectorXf>(d.row(i).data() + r.begin, n);
      }
    }
    return total * inv;
  }

  // Row i's dot product with the model, in four partial sums: one sum is a chain of dependent
  // adds, each waiting for the last (four cycles or more), while the loads of the model's
  // coordinates could all be in flight at once.
  static float sparse_dot(model_reader x, const csr_data& d, std::size_t i) noexcept {
    const std::size_t begin = d.row_start[i], end = d.row_start[i + 1];
    const std::uint32_t* column = d.column.data();
    const float* value = d.value.data();
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    std::size_t k = begin;
    for (; k + 4 <= end; k += 4) {
      s0 += value[k] * x[column[k]];
      s1 += value[k + 1] * x[column[k + 1]];
      s2 += value[k + 2] * x[column[k + 2]];
      s3 += value[k + 3] * x[column[k + 3]];
    }
    for (; k < end; ++k) s0 += value[k] * x[column[k]];
    return (s0 + s1) + (s2 + s3);
  }

  // Whether no row names a column twice (CSR allows it; the generators never do). One pass over
  // the entries, marking each column with the last row that named it: 4 bytes a column (the
  // model's size) while there are fewer than 2^32 rows.
  static bool rows_have_distinct_columns(const csr_data& d) {
    auto check = [&d]<class Row>(Row) {
      std::vector<Row> last_row(d.cols, static_cast<Row>(d.rows));
      for (std::size_t i = 0; i < d.rows; ++i) {
        for (std::size_t k = d.row_start[i]; k < d.row_start[i + 1]; ++k) {
          if (last_row[d.column[k]] == i) return false;
          last_row[d.column[k]] = static_cast<Row>(i);
        }
      }
      return true;
    };
    return d.rows < 0xffffffffu ? check(std::uint32_t{}) : check(std::size_t{});
  }

  std::shared_ptr<const Data> data_;
  bool distinct_row_columns_ = false;
};

/// Least squares `mean (<a, x> - y)^2 / 2` over dense rows.
using least_squares = linear_model<squared_loss, dense_data>;
/// Logistic regression (labels +1/-1) over dense rows.
using logistic_regression = linear_model<logistic_loss, dense_data>;
/// Least squares over sparse rows, with sparse gradients.
using sparse_least_squares = linear_model<squared_loss, csr_data>;
/// Logistic regression over sparse rows, with sparse gradients.
using sparse_logistic_regression = linear_model<logistic_loss, csr_data>;

}  // namespace asgd::inline v0::problems

#pragma once
/// @file
/// Multinomial logistic (softmax) regression with a weight block and a bias block.

#include <asgd/concepts.hpp>
#include <asgd/problems/data.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::problems {

/// Softmax regression over `classes` classes: logits `W a + b` with W a classes x features
/// row-major matrix (parameters [0, classes * features)) and b the biases (the last `classes`
/// parameters); loss: cross-entropy. Targets of the dense_data hold class indices.
///
/// Layout: two blocks, "weights" and "bias". A block gradient computes the logits (which need
/// all parameters) and then only the requested block's part of the backward pass.
///
/// Use it as `softmax_regression`; a class template only so that its Eigen code compiles where
/// it is used (see basic_network).
template <class = void>
class basic_softmax_regression {
 public:
  static constexpr std::string_view name = "softmax_regression";

  basic_softmax_regression(std::shared_ptr<const dense_data> data, std::size_t classes)
      : data_(std::move(data)), classes_(classes), logits_(classes), grad_(classes) {
    data_->validate();
    if (classes_ < 2) throw std::invalid_argument("asgd: softmax_regression needs at least 2 classes");
    for (std::size_t i = 0; i < data_->rows; ++i) {
      const float t = data_->targets[i];
      if (!(t >= 0.0f) || t >= static_cast<float>(classes_) || t != std::floor(t)) {
        throw std::invalid_argument("asgd: softmax_regression: target " + std::to_string(t) + " of sample " +
                                    std::to_string(i) + " is not a class index below " + std::to_string(classes_));
      }
    }
  }

  [[nodiscard]] std::size_t dimension() const noexcept { return classes_ * (features() + 1); }
  [[nodiscard]] std::size_t num_samples() const noexcept { return data_->rows; }
  [[nodiscard]] std::size_t features() const noexcept { return data_->cols; }
  [[nodiscard]] std::size_t classes() const noexcept { return classes_; }

  [[nodiscard]] block_layout layout() const {
    const std::size_t w = classes_ * features();
    return {{"weights", {0, w}}, {"bias", {w, w + classes_}}};
  }

  float gradient(std::span<const float> x, batch_view batch, std::span<float> g) {
    return gradient(x, batch, g, {0, dimension()});
  }

  float gradient(std::span<const float> x, batch_view batch, std::span<float> g, param_range r) {
    std::fill(g.begin(), g.end(), 0.0f);
    const std::size_t f = features();
    const std::size_t w_end = classes_ * f;
    const float inv = 1.0f / static_cast<float>(batch.size());
    float total = 0.0f;
    for (std::size_t i : batch) {
      total += forward(x, i);  // logits_ now holds the class probabilities
      // dLoss/dlogit = p - onehot(y)
      for (std::size_t c = 0; c < classes_; ++c) grad_[c] = logits_[c] * inv;
      grad_[class_of(i)] -= inv;
      const float* a = data_->row(i).data();
      // weights: row c of W gets grad_[c] * a, restricted to r
      if (r.begin < w_end) {
        const std::size_t w_hi = std::min(r.end, w_end);
        for (std::size_t c = r.begin / f; c * f < w_hi; ++c) {
          const std::size_t lo = std::max(r.begin, c * f), hi = std::min(w_hi, (c + 1) * f);
          for (std::size_t j = lo; j < hi; ++j) g[j - r.begin] += grad_[c] * a[j - c * f];
        }
      }
      for (std::size_t c = 0; c < classes_; ++c) {
        if (r.contains(w_end + c)) g[w_end + c - r.begin] += grad_[c];
      }
    }
    return total * inv;
  }

  /// Mean cross-entropy and accuracy over all samples.
  [[nodiscard]] evaluation evaluate(std::span<const float> x) const {
    basic_softmax_regression scratch = *this;
    double total = 0.0;
    std::size_t correct = 0;
    for (std::size_t i = 0; i < num_samples(); ++i) {
      total += scratch.forward(x, i);
      const auto best = std::max_element(scratch.logits_.begin(), scratch.logits_.end()) - scratch.logits_.begin();
      correct += static_cast<std::size_t>(best) == class_of(i);
    }
    const double n = static_cast<double>(num_samples());
    return {total / n, static_cast<double>(correct) / n};
  }

  friend std::ostream& operator<<(std::ostream& os, const basic_softmax_regression& m) {
    return os << "softmax_regression{" << m.num_samples() << " x " << m.features() << ", " << m.classes_
              << " classes}";
  }

  [[nodiscard]] std::size_t class_of(std::size_t i) const noexcept { return static_cast<std::size_t>(data_->targets[i]); }

 private:

  // Probabilities of sample i into logits_; returns its cross-entropy.
  float forward(std::span<const float> x, std::size_t i) {
    const auto f = static_cast<Eigen::Index>(features());
    const auto c = static_cast<Eigen::Index>(classes_);
    using row_major = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    Eigen::Map<const row_major> w(x.data(), c, f);
    Eigen::Map<const Eigen::VectorXf> b(x.data() + c * f, c);
    Eigen::Map<const Eigen::VectorXf> a(data_->row(i).data(), f);
    Eigen::Map<Eigen::VectorXf> z(logits_.data(), c);
    z.noalias() = w * a + b;
    const float top = z.maxCoeff();
    const float shifted = z[static_cast<Eigen::Index>(class_of(i))] - top;
    z = (z.array() - top).exp();
    const float sum = z.sum();
    z /= sum;
    return std::log(sum) - shifted;  // cross-entropy, computed before normalising (no log of 0)
  }

  std::shared_ptr<const dense_data> data_;
  std::size_t classes_;
  std::vector<float> logits_;  // per-worker scratch (each worker has its own copy)
  std::vector<float> grad_;
};

/// Softmax regression (see basic_softmax_regression).
using softmax_regression = basic_softmax_regression<>;

}  // namespace asgd::inline v0::problems

#pragma once
// Test helpers shared by asgd's test executables.

#include <asgd/asgd.hpp>
#include <asgd/problems.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace asgd_test {

/// A model that never moves by itself (zero gradients), starting at `start` plus a ramp of 0.01
/// a coordinate: what nodes' models become is then the averaging alone.
struct still_model {
  static constexpr std::string_view name = "still";
  float start = 0.0f;
  [[nodiscard]] std::size_t dimension() const { return 64; }
  [[nodiscard]] std::size_t num_samples() const { return 256; }
  void initialize(std::span<float> x, std::uint64_t) const {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = start + 0.01f * static_cast<float>(i);
  }
  float gradient(std::span<const float>, asgd::batch_view, std::span<float> g) const {
    std::fill(g.begin(), g.end(), 0.0f);
    return 0.0f;
  }
};

/// A problem whose gradient is all ones, whatever the batch: every update of a full step moves
/// every coordinate by the same amount. Its gradient counts views whose coordinates are not
/// all equal (torn reads): a consistent mode must never produce one.
struct equal_coordinates {
  static constexpr std::string_view name = "equal_coordinates";
  std::size_t dim = 64;
  std::size_t samples = 1024;
  std::shared_ptr<std::atomic<std::uint64_t>> torn = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::shared_ptr<std::atomic<std::uint64_t>> views = std::make_shared<std::atomic<std::uint64_t>>(0);

  [[nodiscard]] std::size_t dimension() const { return dim; }
  [[nodiscard]] std::size_t num_samples() const { return samples; }
  float gradient(std::span<const float> x, asgd::batch_view, std::span<float> g) const {
    views->fetch_add(1, std::memory_order_relaxed);
    for (float v : x) {
      if (v != x[0]) {
        torn->fetch_add(1, std::memory_order_relaxed);
        break;
      }
    }
    std::fill(g.begin(), g.end(), 1.0f);
    return 1.0f;
  }
};

/// Squared distance between two vectors.
inline double distance2(std::span<const float> a, std::span<const float> b) {
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return d;
}

/// A direction functor returning the gradient unchanged (plain SGD without state).
struct identity_direction {
  float operator()(std::size_t, float g, float) const noexcept { return g; }
};

/// A learning-rate functor returning a constant.
struct constant_lr {
  double value = 1.0;
  double operator()(std::uint64_t) const noexcept { return value; }
};

}  // namespace asgd_test

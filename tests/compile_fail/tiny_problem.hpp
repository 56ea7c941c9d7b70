#pragma once
// The problem the compile-fail tests train: what the problem concept asks and nothing more, so
// each test compiles only the trainer and the policies it names (not the reference problems).

#include <asgd/concepts.hpp>

#include <cstddef>
#include <span>

struct tiny_problem {
  [[nodiscard]] std::size_t dimension() const { return 2; }
  [[nodiscard]] std::size_t num_samples() const { return 4; }
  float gradient(std::span<const float> x, asgd::batch_view, std::span<float> g) const {
    g[0] = x[0];
    g[1] = x[1];
    return 0.5f * (x[0] * x[0] + x[1] * x[1]);
  }
};

// A trainer type declared once for a large code base: every translation unit that includes this
// header uses the trainer, and only line_trainer.cpp compiles its members.
#pragma once

// [example-begin declare]
#include <asgd/consistency/leashed.hpp>  // fine-grained headers: only what this trainer uses
#include <asgd/trainer.hpp>
#include <asgd/update/momentum.hpp>

#include <span>
#include <vector>

// The problem: y = 3 x0 - 2 x1 by least squares, as in examples/01_minimal.cpp.
struct line_fit {
  std::vector<float> xs, ys;

  std::size_t dimension() const { return 2; }
  std::size_t num_samples() const { return ys.size(); }
  float gradient(std::span<const float> w, asgd::batch_view batch, std::span<float> g) const;
};

using line_trainer = asgd::trainer<line_fit, asgd::consistency::leashed, asgd::update::momentum>;

// Instantiated in line_trainer.cpp; other translation units only call its members.
extern template class asgd::trainer<line_fit, asgd::consistency::leashed, asgd::update::momentum>;
// [example-end declare]

#pragma once
// A learnable image problem for the GPU MLP tests, built and evaluated by the host library's
// network (compiled by the host compiler in mlp_problem.cpp: Eigen does not go through nvcc).
// 8 x 8 images, 4 classes; class c lights up quadrant c, plus noise.

#include <asgd/data/images.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace asgd_test {

struct mlp_problem {
  std::shared_ptr<const asgd::data::image_set> train;
  std::shared_ptr<const asgd::data::image_set> test;
  std::vector<std::size_t> widths;  ///< inputs, hidden..., classes
  asgd::block_layout layout;        ///< the network's blocks
  std::vector<float> initial;       ///< PyTorch-style initial model
};

mlp_problem make_quadrant_problem(std::size_t train_images, const std::vector<std::size_t>& hidden, unsigned seed);

/// Accuracy of `model` on the problem's test images.
double test_accuracy(const mlp_problem& p, std::span<const float> model);

}  // namespace asgd_test

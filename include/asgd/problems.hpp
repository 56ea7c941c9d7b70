#pragma once
/// @file
/// The reference problems (linear models, softmax regression, feed-forward networks, synthetic
/// generators) and the IDX image readers: the part of asgd that needs Eigen and zlib (CMake
/// target asgd::problems). The library itself is <asgd/asgd.hpp>.

#include <asgd/data/idx.hpp>
#include <asgd/data/images.hpp>

#include <asgd/problems/data.hpp>
#include <asgd/problems/linear.hpp>
#include <asgd/problems/network.hpp>
#include <asgd/problems/softmax_regression.hpp>
#include <asgd/problems/synthetic.hpp>

#pragma once
/// @file
/// D-PSGD on a 2-D torus: each node mixes with its four grid neighbours.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/detail/mixing.hpp>
#include <asgd/types.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace asgd::inline v0::topology {

/// Nodes on a `rows` x (n / rows) grid that wraps around; node i = r * columns + c mixes with
/// the nodes above, below, left and right of it, with uniform weights 1 / (degree + 1). The
/// matrix is symmetric and doubly stochastic (every node has the same degree).
///
/// `rows` = 0 picks the largest divisor of n not above sqrt(n) (a square grid when n is a
/// square; a ring when n is prime). Guarantees and non-guarantees: as for `ring`, with a
/// spectral gap that shrinks like 1/n instead of 1/n^2.
struct torus {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "torus";

  std::size_t rows = 0;  ///< grid rows; must divide the node count; 0 = as square as possible

  /// The grid's rows for `nodes` nodes.
  /// @throws std::invalid_argument when `rows` does not divide `nodes`.
  [[nodiscard]] std::size_t rows_for(std::size_t nodes) const {
    if (rows == 0) {
      auto r = static_cast<std::size_t>(std::sqrt(static_cast<double>(nodes)));
      while (r > 1 && nodes % r != 0) --r;
      return r == 0 ? 1 : r;
    }
    if (nodes % rows != 0) {
      throw std::invalid_argument("asgd: topology::torus{.rows = " + std::to_string(rows) + "} does not divide " +
                                  std::to_string(nodes) + " nodes");
    }
    return rows;
  }

  [[nodiscard]] mixing_row neighbours(std::uint64_t /*round*/, std::size_t node, std::size_t nodes,
                                      std::uint64_t /*seed*/) const {
    const std::size_t r = rows_for(nodes);
    const std::size_t cols = nodes / r;
    const std::size_t row = node / cols;
    const std::size_t col = node % cols;
    auto at = [cols](std::size_t rr, std::size_t cc) { return rr * cols + cc; };
    return detail::uniform_row(node, {at((row + 1) % r, col), at((row + r - 1) % r, col), at(row, (col + 1) % cols),
                                      at(row, (col + cols - 1) % cols)});
  }

  friend bool operator==(const torus&, const torus&) = default;
  friend std::ostream& operator<<(std::ostream& os, const torus& t) { return os << "torus{.rows = " << t.rows << '}'; }
};

}  // namespace asgd::inline v0::topology

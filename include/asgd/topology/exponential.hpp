#pragma once
/// @file
/// The exponential graph: each node mixes with the nodes 2^k away, a log-degree graph.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/detail/mixing.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>
#include <vector>

namespace asgd::inline v0::topology {

/// Node i mixes with i + 2^k and i - 2^k (mod n) for every 2^k < n, uniform weights
/// 1 / (degree + 1). The graph is circulant, so every node has the same degree and the matrix
/// is symmetric and doubly stochastic; its diameter is O(log n), so consensus comes in
/// O(log n) rounds where a ring needs O(n^2) (the exponential graph of SGP, Assran et al. 2019,
/// made undirected).
///
/// Guarantees: preserves the mean of the models. Non-guarantees: a node talks to about
/// 2 log2(n) peers per round.
struct exponential {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "exponential";

  [[nodiscard]] mixing_row neighbours(std::uint64_t /*round*/, std::size_t node, std::size_t nodes,
                                      std::uint64_t /*seed*/) const {
    std::vector<std::size_t> peers;
    for (std::size_t hop = 1; hop < nodes; hop *= 2) {
      peers.push_back((node + hop) % nodes);
      peers.push_back((node + nodes - hop) % nodes);
    }
    return detail::uniform_row(node, peers);
  }

  friend bool operator==(const exponential&, const exponential&) = default;
  friend std::ostream& operator<<(std::ostream& os, const exponential&) { return os << "exponential{}"; }
};

}  // namespace asgd::inline v0::topology

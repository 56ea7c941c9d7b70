#pragma once
/// @file
/// Global averaging: every node takes the mean of all models.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace asgd::inline v0::topology {

/// Every round, every node's model becomes the mean over all nodes: the mixing matrix is
/// J/n. This is the averaging of local SGD, post-local SGD and LAP-SGD/LPP-SGD (Chatterjee,
/// Kungurtsev, Alistarh), and with averaging after every step it is synchronous data-parallel
/// SGD. `global_mean` lets the averager use the transport's all-reduce instead of n - 1
/// point-to-point exchanges (when the quantizer is the identity).
///
/// Guarantees: preserves the mean of the models exactly (up to float rounding); consensus
/// distance is 0 after every round in blocking mode. Non-guarantees: every node talks to every
/// other node in every round (the busiest link carries O(n) models with point-to-point
/// exchange; O(1) with a ring all-reduce).
struct all_reduce {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "all_reduce";
  static constexpr bool global_mean = true;

  [[nodiscard]] mixing_row neighbours(std::uint64_t /*round*/, std::size_t node, std::size_t nodes,
                                      std::uint64_t /*seed*/) const {
    const float w = 1.0f / static_cast<float>(nodes);
    mixing_row row{w, {}};
    row.peers.reserve(nodes - 1);
    for (std::size_t k = 0; k < nodes; ++k)
      if (k != node) row.peers.push_back({k, w});
    return row;
  }

  friend bool operator==(const all_reduce&, const all_reduce&) = default;
  friend std::ostream& operator<<(std::ostream& os, const all_reduce&) { return os << "all_reduce{}"; }
};

}  // namespace asgd::inline v0::topology

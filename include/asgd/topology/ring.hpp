#pragma once
/// @file
/// D-PSGD on a ring: each node mixes with its two neighbours.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/detail/mixing.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace asgd::inline v0::topology {

/// The ring of D-PSGD (Lian et al., NeurIPS 2017): node i averages with i - 1 and i + 1
/// (mod n), weight 1/3 each (1/2 and one peer for two nodes). The mixing matrix is symmetric
/// and doubly stochastic, the same every round.
///
/// Guarantees: preserves the mean of the models; consensus distance shrinks by the matrix's
/// second eigenvalue per round (1/3 + 2/3 cos(2 pi / n)), so slowly for large rings.
/// Non-guarantees: a straggler slows its two neighbours directly, the rest through them.
struct ring {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "ring";

  [[nodiscard]] mixing_row neighbours(std::uint64_t /*round*/, std::size_t node, std::size_t nodes,
                                      std::uint64_t /*seed*/) const {
    return detail::uniform_row(node, {(node + 1) % nodes, (node + nodes - 1) % nodes});
  }

  friend bool operator==(const ring&, const ring&) = default;
  friend std::ostream& operator<<(std::ostream& os, const ring&) { return os << "ring{}"; }
};

}  // namespace asgd::inline v0::topology

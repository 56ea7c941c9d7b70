#pragma once
/// @file
/// SwarmSGD's gossip: a random matching of the nodes each round; partners average.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/detail/mixing.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

namespace asgd::inline v0::topology {

/// SwarmSGD (Nadiradze, Sabour, Davies, Li, Alistarh; NeurIPS 2021): in each round the nodes
/// are paired by a random matching drawn from (seed, round), and each pair averages its two
/// models (weights 1/2, 1/2); with an odd node count one node sits the round out. Local steps
/// between interactions are the averaging period (`settings.averaging.every`).
///
/// `one_sided = true` does what the authors' MPI code does: only the initiator (the first of
/// the pair in the round's order) takes the average; its partner sends its model and keeps
/// its own (its row names the initiator with weight 0).
///
/// Guarantees: two-sided averaging preserves the mean of the models exactly (each pair's sum
/// is unchanged); the matching is the same on every node without communication. Non-guarantees:
/// one-sided averaging does not preserve the mean (the paper's analysis is two-sided); a
/// round's pairs wait for each other (a straggler slows its partner of that round only).
struct random_pairs {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "random_pairs";

  bool one_sided = false;  ///< only the initiator of a pair averages

  [[nodiscard]] mixing_row neighbours(std::uint64_t round, std::size_t node, std::size_t nodes,
                                      std::uint64_t seed) const {
    const auto order = detail::round_order(nodes, seed, round);
    std::size_t at = 0;
    while (order[at] != node) ++at;
    const std::size_t mate = at ^ 1;  // positions 2k and 2k + 1 form a pair
    if (mate >= nodes) return {1.0f, {}};
    const bool initiator = at % 2 == 0;
    if (one_sided && !initiator) return {1.0f, {{order[mate], 0.0f}}};
    return {0.5f, {{order[mate], 0.5f}}};
  }

  friend bool operator==(const random_pairs&, const random_pairs&) = default;
  friend std::ostream& operator<<(std::ostream& os, const random_pairs& t) {
    return os << "random_pairs{.one_sided = " << (t.one_sided ? "true" : "false") << '}';
  }
};

}  // namespace asgd::inline v0::topology

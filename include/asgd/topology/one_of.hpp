#pragma once
/// @file
/// A topology chosen at run time from a fixed set.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/concepts.hpp>
#include <asgd/detail/policy_choice.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <type_traits>

namespace asgd::inline v0::topology {

/// One of the topologies `Ts...`, chosen at run time: `one_of<ring, random_pairs> t = ring{};`.
/// A command-line tool or a sweep then compiles one trainer for every choice. The averager
/// visits the choice once per round, so it still uses the all-reduce when the choice is
/// `all_reduce` (and the quantizer the identity), and gossip when it is `swarm` or `adpsgd`.
/// Reports name the topology held.
template <averaging_topology... Ts>
class one_of : public detail::policy_choice<Ts...> {
 public:
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "one_of";
  using detail::policy_choice<Ts...>::policy_choice;

  /// The held topology's row; the trainer visits a gossip choice itself and never asks it this.
  /// @throws std::logic_error when the choice held is a gossip topology.
  [[nodiscard]] mixing_row neighbours(std::uint64_t round, std::size_t node, std::size_t nodes,
                                      std::uint64_t seed) const {
    return this->visit([&](const auto& t) -> mixing_row {
      if constexpr (averaging_topology_has_neighbours<std::decay_t<decltype(t)>>) {
        return t.neighbours(round, node, nodes, seed);
      } else {
        throw std::logic_error("asgd: topology::one_of::neighbours: the topology held is gossip, without rounds");
      }
    });
  }
};

}  // namespace asgd::inline v0::topology

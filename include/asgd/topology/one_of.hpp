#pragma once
/// @file
/// A topology chosen at run time from a fixed set.

#include <asgd/concepts.hpp>
#include <asgd/detail/policy_choice.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace asgd::inline v0::topology {

/// One of the topologies `Ts...`, chosen at run time: `one_of<ring, random_pairs> t = ring{};`.
/// A command-line tool or a sweep then compiles one trainer for every choice. The averager
/// visits the choice once per round, so it still uses the all-reduce when the choice is
/// `all_reduce` (and the quantizer the identity). Reports name the topology held.
template <averaging_topology... Ts>
class one_of : public detail::policy_choice<Ts...> {
 public:
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "one_of";
  using detail::policy_choice<Ts...>::policy_choice;

  [[nodiscard]] mixing_row neighbours(std::uint64_t round, std::size_t node, std::size_t nodes,
                                      std::uint64_t seed) const {
    return this->visit([&](const auto& t) { return t.neighbours(round, node, nodes, seed); });
  }
};

}  // namespace asgd::inline v0::topology

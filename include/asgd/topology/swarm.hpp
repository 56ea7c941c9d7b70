#pragma once
/// @file
/// SwarmSGD: event-driven pairwise gossip on a graph, after a random number of local steps.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/random.hpp>
#include <asgd/topology/graph.hpp>
#include <asgd/types.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string_view>
#include <vector>

namespace asgd::inline v0::topology {

/// SwarmSGD (Nadiradze, Sabour, Davies, Li, Alistarh; NeurIPS 2021) as its paper defines it:
/// asynchronous gossip. Each node takes local steps; after a random number of them (geometric
/// with mean H = `settings.averaging.every`, or exactly H when `geometric` is false) it picks a
/// neighbour on `graph` uniformly at random and averages with that neighbour's latest published
/// model. There is no global round: nodes interact at their own times, and an initiator never
/// waits for its partner, which keeps computing (docs/policies/topology.md, "Gossip").
///
/// Two-sided (the default, the paper's analysis): the initiator moves to the average and hands
/// the partner the other half of the difference, which the partner adds at its next interaction,
/// so the sum of the models is kept. `one_sided = true` is the authors' MPI code: only the
/// initiator averages.
///
/// Non-guarantees: the partner's published copy is as old as the partner's last interaction
/// (at most a few local steps); concurrent interactions with one node are all applied.
struct swarm {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "swarm";

  topology::graph graph = graph::complete();  ///< who may be chosen as a partner
  bool geometric = true;   ///< local steps between interactions: geometric with mean H, else exactly H
  bool one_sided = false;  ///< only the initiator takes the average

  void validate() const { graph.validate(); }

  [[nodiscard]] std::vector<std::size_t> peers(std::size_t node, std::size_t nodes, std::uint64_t seed) const {
    return graph.neighbours(node, nodes, seed);
  }
  [[nodiscard]] std::size_t partner(std::span<const std::size_t> peers, rng& g) const {
    return peers[static_cast<std::size_t>(g.below(peers.size()))];
  }
  /// Geometric on {1, 2, ...} with mean `every` (success probability 1 / every), by inversion.
  [[nodiscard]] std::uint64_t local_steps(std::uint64_t every, rng& g) const {
    if (!geometric || every <= 1) return every == 0 ? 1 : every;
    const double u = g.uniform();  // in [0, 1)
    const double k = std::floor(std::log1p(-u) / std::log1p(-1.0 / static_cast<double>(every)));
    return 1 + static_cast<std::uint64_t>(std::fmin(k, 1e15));
  }
  [[nodiscard]] bool two_sided() const noexcept { return !one_sided; }

  friend bool operator==(const swarm&, const swarm&) = default;
  friend std::ostream& operator<<(std::ostream& os, const swarm& t) {
    return os << "swarm{.graph = " << t.graph << ", .geometric = " << (t.geometric ? "true" : "false")
              << ", .one_sided = " << (t.one_sided ? "true" : "false") << '}';
  }
};

}  // namespace asgd::inline v0::topology

#pragma once
/// @file
/// AD-PSGD: after every H local steps, average with one random neighbour, without waiting.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/random.hpp>
#include <asgd/topology/graph.hpp>
#include <asgd/types.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string_view>
#include <vector>

namespace asgd::inline v0::topology {

/// AD-PSGD (Lian, Zhang, Zhang, Liu; ICML 2018): every node, after each local step (the paper;
/// here after every H = `settings.averaging.every` steps), picks a neighbour on `graph`
/// uniformly at random and the two average their models, the initiator not waiting for the
/// partner to reach any step. Gradients computed on the model before an average are applied
/// after it, as in the paper: workers keep updating the node's model while it averages.
///
/// Differences from the paper: the paper averages the pair atomically (x_i = x_j = mean), which
/// needs a lock on both models and a bipartite graph against deadlocks; here the initiator
/// averages with the partner's published copy and hands the partner its half of the
/// difference, which the partner adds at its next interaction (docs/policies/topology.md,
/// "Gossip"). The sum of the models is kept the same way.
struct adpsgd {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "adpsgd";

  topology::graph graph = graph::ring();  ///< who may be chosen as a partner (the paper's experiments: a ring)

  void validate() const { graph.validate(); }

  [[nodiscard]] std::vector<std::size_t> peers(std::size_t node, std::size_t nodes, std::uint64_t seed) const {
    return graph.neighbours(node, nodes, seed);
  }
  [[nodiscard]] std::size_t partner(std::span<const std::size_t> peers, rng& g) const {
    return peers[static_cast<std::size_t>(g.below(peers.size()))];
  }
  [[nodiscard]] std::uint64_t local_steps(std::uint64_t every, rng& /*g*/) const { return every == 0 ? 1 : every; }
  [[nodiscard]] bool two_sided() const noexcept { return true; }

  friend bool operator==(const adpsgd&, const adpsgd&) = default;
  friend std::ostream& operator<<(std::ostream& os, const adpsgd& t) {
    return os << "adpsgd{.graph = " << t.graph << '}';
  }
};

}  // namespace asgd::inline v0::topology

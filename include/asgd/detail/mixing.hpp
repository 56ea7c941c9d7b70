#pragma once
// Internal: building mixing rows for the shipped topologies.

#include <asgd/random.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <span>
#include <vector>

namespace asgd::inline v0::detail {

// The row that averages `node` with `candidates` (duplicates and `node` itself dropped), all
// with the same weight 1 / (peers + 1). A symmetric graph in which every node has the same
// degree gives a doubly stochastic matrix this way.
inline mixing_row uniform_row(std::size_t node, std::span<const std::size_t> candidates) {
  std::vector<std::size_t> peers(candidates.begin(), candidates.end());
  std::sort(peers.begin(), peers.end());
  peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
  std::erase(peers, node);
  const float w = 1.0f / static_cast<float>(peers.size() + 1);
  mixing_row row{w, {}};
  for (std::size_t p : peers) row.peers.push_back({p, w});
  return row;
}
inline mixing_row uniform_row(std::size_t node, std::initializer_list<std::size_t> candidates) {
  return uniform_row(node, std::span<const std::size_t>(candidates.begin(), candidates.size()));
}

// The nodes in a random order that depends only on (seed, round): every node computes the
// same order for a round without talking to the others.
inline std::vector<std::size_t> round_order(std::size_t nodes, std::uint64_t seed, std::uint64_t round) {
  std::vector<std::size_t> order(nodes);
  std::iota(order.begin(), order.end(), std::size_t{0});
  rng g(seed ^ 0x70b0c0de5eedull, round);
  shuffle(order.begin(), order.end(), g);
  return order;
}

}  // namespace asgd::inline v0::detail

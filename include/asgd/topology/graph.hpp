#pragma once
/// @file
/// The graphs event-driven gossip draws partners from: complete, ring, torus, random regular,
/// exponential.

#include <asgd/random.hpp>
#include <asgd/topology/exponential.hpp>
#include <asgd/topology/ring.hpp>
#include <asgd/topology/torus.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace asgd::inline v0::topology {

/// Who may interact with whom in event-driven gossip (`swarm`, `adpsgd`): an undirected graph
/// on the nodes, without self-loops. Every node computes the same graph from (nodes, seed)
/// without talking to the others.
///
/// - `complete()`: every other node (SwarmSGD's experiments and the authors' code).
/// - `ring()`: i - 1 and i + 1 (mod n) (AD-PSGD's experiments).
/// - `torus()`: the four neighbours on the most square rows x columns grid that wraps around
///   (a ring when n is prime), as `topology::torus`.
/// - `regular(d)`: a uniformly drawn simple d-regular graph (n * d even, d < n), drawn by
///   pairing the nodes' d half-edges at random and starting over when the pairing gets stuck.
/// - `exponential()`: i +- 2^k (mod n) for every 2^k < n, as `topology::exponential`.
struct graph {
  enum class shape : std::uint8_t { complete, ring, torus, regular, exponential };

  graph::shape form = shape::complete;
  std::size_t degree = 0;  ///< `regular` only: every node's number of neighbours

  [[nodiscard]] static constexpr graph complete() noexcept { return {shape::complete, 0}; }
  [[nodiscard]] static constexpr graph ring() noexcept { return {shape::ring, 0}; }
  [[nodiscard]] static constexpr graph torus() noexcept { return {shape::torus, 0}; }
  [[nodiscard]] static constexpr graph regular(std::size_t d) noexcept { return {shape::regular, d}; }
  [[nodiscard]] static constexpr graph exponential() noexcept { return {shape::exponential, 0}; }

  /// @throws std::invalid_argument for a degree given to another shape than `regular`, or a
  /// `regular` graph of degree 0.
  void validate() const {
    if (form == shape::regular && degree == 0) {
      throw std::invalid_argument("asgd: topology::graph::regular(0): the degree must be at least 1");
    }
    if (form != shape::regular && degree != 0) {
      throw std::invalid_argument("asgd: topology::graph " + describe() + ": only a regular graph has a degree");
    }
  }

  /// The sorted neighbours of `node` among `nodes` (none for a lone node).
  /// @throws std::invalid_argument when no such graph exists on `nodes` nodes (`regular(d)`
  /// with d >= nodes, or nodes * d odd).
  [[nodiscard]] std::vector<std::size_t> neighbours(std::size_t node, std::size_t nodes, std::uint64_t seed) const {
    validate();
    std::vector<std::size_t> out;
    // The ring, torus and exponential graphs are those of the round-based topologies: their
    // rows' peers (sorted, without duplicates or the node itself).
    auto peers_of = [&](const auto& topology) {
      for (const auto& p : topology.neighbours(0, node, nodes, seed).peers) out.push_back(p.node);
    };
    switch (form) {
      case shape::complete:
        for (std::size_t k = 0; k < nodes; ++k)
          if (k != node) out.push_back(k);
        break;
      case shape::ring: peers_of(topology::ring{}); break;
      case shape::torus: peers_of(topology::torus{}); break;
      case shape::exponential: peers_of(topology::exponential{}); break;
      case shape::regular: out = regular_graph(nodes, seed)[node]; break;
    }
    return out;
  }

  [[nodiscard]] std::string describe() const {
    switch (form) {
      case shape::complete: return "complete";
      case shape::ring: return "ring";
      case shape::torus: return "torus";
      case shape::exponential: return "exponential";
      case shape::regular: break;
    }
    return "regular:" + std::to_string(degree);
  }

  friend bool operator==(const graph&, const graph&) = default;
  friend std::ostream& operator<<(std::ostream& os, const graph& g) { return os << g.describe(); }

 private:
  // Every node's neighbours in a random simple `degree`-regular graph drawn from `seed`: the
  // half-edges are paired one at a time, each pair drawn uniformly from those that make neither
  // a self-loop nor a second edge between two nodes; a pairing that gets stuck starts over.
  [[nodiscard]] std::vector<std::vector<std::size_t>> regular_graph(std::size_t nodes, std::uint64_t seed) const {
    if (degree >= nodes || (nodes * degree) % 2 != 0) {
      throw std::invalid_argument("asgd: topology::graph::regular(" + std::to_string(degree) + ") on " +
                                  std::to_string(nodes) + " nodes: a simple regular graph needs degree < nodes and " +
                                  "nodes * degree even");
    }
    rng g(seed ^ 0x6e6f64657265ull, nodes * 1000003 + degree);
    for (int attempt = 0; attempt < 1000; ++attempt) {
      std::vector<std::vector<std::size_t>> adj(nodes);
      std::vector<std::size_t> free;  // one entry per half-edge not yet paired
      for (std::size_t k = 0; k < nodes; ++k) free.insert(free.end(), degree, k);
      auto allowed = [&](std::size_t a, std::size_t b) {
        return a != b && std::find(adj[a].begin(), adj[a].end(), b) == adj[a].end();
      };
      bool stuck = false;
      while (!free.empty() && !stuck) {
        // A few random draws find an allowed pair almost always; a full scan decides otherwise.
        bool found = false;
        std::size_t i = 0, j = 0;
        for (int tries = 0; tries < 64 && !found; ++tries) {
          i = uniform_index(g, free.size());
          j = uniform_index(g, free.size());
          found = i != j && allowed(free[i], free[j]);
        }
        if (!found) {
          std::vector<std::pair<std::size_t, std::size_t>> options;
          for (std::size_t a = 0; a < free.size(); ++a)
            for (std::size_t b = a + 1; b < free.size(); ++b)
              if (allowed(free[a], free[b])) options.emplace_back(a, b);
          if (options.empty()) {
            stuck = true;
            break;
          }
          std::tie(i, j) = options[uniform_index(g, options.size())];
        }
        adj[free[i]].push_back(free[j]);
        adj[free[j]].push_back(free[i]);
        if (i < j) std::swap(i, j);  // erase the later index first
        free.erase(free.begin() + static_cast<std::ptrdiff_t>(i));
        free.erase(free.begin() + static_cast<std::ptrdiff_t>(j));
      }
      if (!stuck) return adj;
    }
    throw std::invalid_argument("asgd: topology::graph::regular(" + std::to_string(degree) + ") on " +
                                std::to_string(nodes) + " nodes: no pairing found in 1000 attempts");
  }

  static std::size_t uniform_index(rng& g, std::size_t n) { return static_cast<std::size_t>(g.below(n)); }
};

}  // namespace asgd::inline v0::topology

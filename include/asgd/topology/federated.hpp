#pragma once
/// @file
/// FedAvg's averaging: a sampled fraction of the nodes averages, weighted by data size.

#include <asgd/averaging.hpp>  // what a trainer with this topology runs
#include <asgd/detail/mixing.hpp>
#include <asgd/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asgd::inline v0::topology {

/// Federated averaging (McMahan et al., AISTATS 2017) without a server: each round a subset
/// of round(fraction * n) nodes (at least two, at most n), drawn from (seed, round), replaces its models by their
/// average weighted by each node's data size; the other nodes keep training on their own.
/// (The ICDCS 2024 "Federated SGD with local asynchrony" runs this averaging non-blocking.)
///
/// `data_sizes` gives each node's number of samples; left empty, a trainer fills in its nodes'
/// shard sizes (`settings.shards`), and its final average is the same weighted mean. Unlike
/// FedAvg's clients, nodes left out of a round keep training from their own model, and every
/// node takes H local steps between rounds whatever its data size (FedAvg's take E epochs of
/// their own data); docs/policies/topology.md#heterogeneous-data compares the two.
///
/// Guarantees: preserves the data-size-weighted mean of the models (the plain mean when sizes
/// are equal). Non-guarantees: with fraction < 1 the nodes left out drift until sampled.
struct federated {
  using policy_kind = averaging_topology_tag;
  static constexpr std::string_view name = "federated";

  double fraction = 0.5;               ///< share of the nodes that average each round, in (0, 1]
  std::vector<double> data_sizes = {};  ///< samples per node (empty: all equal)

  void validate() const {
    if (!(fraction > 0.0 && fraction <= 1.0)) {
      throw std::invalid_argument("asgd: topology::federated{.fraction = " + std::to_string(fraction) +
                                  "}: must be in (0, 1]");
    }
    for (std::size_t k = 0; k < data_sizes.size(); ++k) {
      if (!(data_sizes[k] > 0.0 && std::isfinite(data_sizes[k]))) {
        throw std::invalid_argument("asgd: topology::federated: data_sizes[" + std::to_string(k) +
                                    "] = " + std::to_string(data_sizes[k]) + " must be a finite number > 0");
      }
    }
  }

  [[nodiscard]] mixing_row neighbours(std::uint64_t round, std::size_t node, std::size_t nodes,
                                      std::uint64_t seed) const {
    if (!data_sizes.empty() && data_sizes.size() != nodes) {
      throw std::invalid_argument("asgd: topology::federated has " + std::to_string(data_sizes.size()) +
                                  " data sizes for " + std::to_string(nodes) + " nodes");
    }
    const auto chosen = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::lround(fraction * static_cast<double>(nodes))), std::min<std::size_t>(2, nodes),
        nodes);
    auto order = detail::round_order(nodes, seed, round);
    order.resize(chosen);
    if (std::find(order.begin(), order.end(), node) == order.end()) return {1.0f, {}};
    auto size = [&](std::size_t k) { return data_sizes.empty() ? 1.0 : data_sizes[k]; };
    double total = 0.0;
    for (std::size_t k : order) total += size(k);
    std::sort(order.begin(), order.end());
    mixing_row row{static_cast<float>(size(node) / total), {}};
    for (std::size_t k : order)
      if (k != node) row.peers.push_back({k, static_cast<float>(size(k) / total)});
    return row;
  }

  friend bool operator==(const federated&, const federated&) = default;
  friend std::ostream& operator<<(std::ostream& os, const federated& t) {
    os << "federated{.fraction = " << t.fraction << ", .data_sizes = {";
    for (std::size_t k = 0; k < t.data_sizes.size(); ++k) os << (k ? ", " : "") << t.data_sizes[k];
    return os << "}}";
  }
};

}  // namespace asgd::inline v0::topology

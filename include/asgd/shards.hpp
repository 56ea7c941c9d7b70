#pragma once
/// @file
/// How a run's training samples are split among its nodes: iid shards, of equal or given
/// relative sizes, or label-skewed shards whose class mix is drawn from a Dirichlet distribution.
/// Every node computes the whole split from the same seed, so no node sends another its indices.

#include <asgd/random.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace asgd::inline v0 {

/// How the samples are split among nodes (`settings.shards`; a lone node takes all of them).
/// Every node takes the same number of steps whatever its shard's size (an epoch is one pass
/// over all the data by all nodes together), so a node with a small shard passes over it more
/// often than one with a large shard.
struct sharding {
  enum class kind {
    iid,        ///< contiguous ranges of the samples, in `sizes` proportions (empty: equal)
    dirichlet,  ///< each class split among the nodes in proportions drawn from Dirichlet(alpha)
  };
  kind type = kind::iid;
  /// dirichlet: the concentration, > 0. At 0.1 most nodes hold one or two classes; at 100 the
  /// class mix is nearly that of the whole set.
  double alpha = 0.5;
  /// iid: relative shard sizes, one per node (`{3, 1}`: node 0 holds three quarters); empty
  /// gives equal shards.
  std::vector<double> sizes = {};

  void validate() const {
    if (type == kind::dirichlet && !(std::isfinite(alpha) && alpha > 0.0)) {
      throw std::invalid_argument("asgd: settings.shards.alpha = " + std::to_string(alpha) +
                                  ": must be a finite number > 0");
    }
    if (type == kind::dirichlet && !sizes.empty()) {
      throw std::invalid_argument(
          "asgd: settings.shards.sizes applies to iid shards; a Dirichlet split draws its sizes with the classes");
    }
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      if (!(std::isfinite(sizes[k]) && sizes[k] > 0.0)) {
        throw std::invalid_argument("asgd: settings.shards.sizes[" + std::to_string(k) + "] = " +
                                    std::to_string(sizes[k]) + ": must be a finite number > 0");
      }
    }
  }

  friend bool operator==(const sharding&, const sharding&) = default;
  friend std::ostream& operator<<(std::ostream& os, const sharding& s) {
    if (s.type == kind::dirichlet) return os << "dirichlet(" << s.alpha << ')';
    os << "iid";
    if (s.sizes.empty()) return os;
    os << '(';
    for (std::size_t k = 0; k < s.sizes.size(); ++k) os << (k ? ":" : "") << s.sizes[k];
    return os << ')';
  }
};

/// One node's view of a split: every node's shard size, and its own samples in ascending order
/// (a range for iid shards, which costs no memory however many samples there are).
struct shard_split {
  std::vector<std::size_t> sizes;    ///< samples held by each node
  std::size_t count = 0;             ///< samples this node holds
  std::size_t first = 0;             ///< iid: this node holds [first, first + count)
  std::vector<std::size_t> samples;  ///< dirichlet: this node's sample indices, ascending (iid: empty)

  /// This node's j-th sample, j < count.
  [[nodiscard]] std::size_t at(std::size_t j) const noexcept { return samples.empty() ? first + j : samples[j]; }
};

/// A Gamma(shape, 1) variate, the same on every platform (Marsaglia and Tsang 2000; below shape
/// 1, Gamma(shape + 1) * U^(1/shape)).
inline double gamma_variate(rng& g, double shape) {
  if (shape < 1.0) {
    double u = 0.0;
    do u = g.uniform(); while (u == 0.0);
    return gamma_variate(g, shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0.0, v = 0.0;
    do {
      x = g.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = g.uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

/// Node `node`'s shard of `samples` samples among `nodes` nodes, each holding at least `least`
/// samples. `class_of` gives each sample's class (needed by dirichlet only).
///
/// iid: node k holds the contiguous range [floor(n S_k / S), floor(n S_{k+1} / S)), S_k the sum
/// of the first k sizes; with equal sizes, [k n / nodes, (k + 1) n / nodes).
/// dirichlet: for every class, its samples are shuffled and cut among the nodes in proportions
/// drawn from Dirichlet(alpha, ..., alpha) (the label-skew split of Yurochkin et al., ICML 2019,
/// and of most federated-learning experiments since); a draw that leaves a node with fewer than
/// `least` samples is drawn again, up to 1000 times.
///
/// @throws std::invalid_argument when the sizes do not match the nodes, a node would hold fewer
///         than `least` samples, or a class index is out of range
inline shard_split split_samples(const sharding& s, std::size_t samples, std::size_t nodes, std::size_t node,
                                 std::uint64_t seed, std::span<const std::uint32_t> class_of = {},
                                 std::size_t least = 1) {
  s.validate();
  if (nodes == 0 || node >= nodes) {
    throw std::invalid_argument("asgd: split_samples: node " + std::to_string(node) + " of " + std::to_string(nodes));
  }
  shard_split out;
  out.sizes.assign(nodes, 0);
  auto too_small = [&](std::size_t k, const std::string& how) {
    return std::invalid_argument("asgd: settings.shards " + how + " leaves node " + std::to_string(k) + " " +
                                 std::to_string(out.sizes[k]) + " of the " + std::to_string(samples) +
                                 " samples; each node needs at least " + std::to_string(least) +
                                 " (the batch, and a sample per sharded worker)");
  };
  if (nodes == 1) {
    out.sizes[0] = out.count = samples;
    return out;
  }

  if (s.type == sharding::kind::iid) {
    if (!s.sizes.empty() && s.sizes.size() != nodes) {
      throw std::invalid_argument("asgd: settings.shards.sizes has " + std::to_string(s.sizes.size()) +
                                  " entries for " + std::to_string(nodes) + " nodes");
    }
    std::vector<std::size_t> begin(nodes + 1, samples);
    if (s.sizes.empty()) {
      for (std::size_t k = 0; k < nodes; ++k) begin[k] = k * samples / nodes;
    } else {
      double total = 0.0;
      for (double w : s.sizes) total += w;
      double before = 0.0;
      for (std::size_t k = 0; k < nodes; ++k) {
        begin[k] = std::min(samples, static_cast<std::size_t>(std::floor(static_cast<double>(samples) * before / total)));
        before += s.sizes[k];
      }
    }
    for (std::size_t k = 0; k < nodes; ++k) out.sizes[k] = begin[k + 1] - begin[k];
    for (std::size_t k = 0; k < nodes; ++k) {
      if (out.sizes[k] < least) throw too_small(k, "iid split");
    }
    out.count = out.sizes[node];
    out.first = begin[node];
    return out;
  }

  // Dirichlet: the classes' members, then one draw of proportions per class.
  if (class_of.size() != samples) {
    throw std::invalid_argument("asgd: settings.shards: a Dirichlet split needs a class for each of the " +
                                std::to_string(samples) + " samples, got " + std::to_string(class_of.size()));
  }
  std::uint32_t classes = 0;
  for (std::uint32_t c : class_of) classes = std::max(classes, c + 1);
  if (classes > (1u << 16)) {
    throw std::invalid_argument("asgd: settings.shards: class index " + std::to_string(classes - 1) +
                                " is past 65535; a Dirichlet split takes at most 65536 classes");
  }
  std::vector<std::vector<std::size_t>> members(classes);
  for (std::size_t i = 0; i < samples; ++i) members[class_of[i]].push_back(i);

  std::vector<std::size_t> cut(nodes + 1);
  std::vector<double> share(nodes);
  std::string how = "dirichlet(" + std::to_string(s.alpha) + ") split";
  for (std::uint64_t attempt = 0;; ++attempt) {
    rng g(seed ^ 0x5A4D5D1Cull, attempt);
    std::fill(out.sizes.begin(), out.sizes.end(), std::size_t{0});
    out.samples.clear();
    for (auto& m : members) {
      std::sort(m.begin(), m.end());  // a fresh shuffle from the same start on every attempt
      shuffle(m.begin(), m.end(), g);
      double total = 0.0;
      for (double& p : share) total += (p = gamma_variate(g, s.alpha));
      if (!(total > 0.0)) {  // every draw underflowed (tiny alpha): the class goes to one node
        std::fill(share.begin(), share.end(), 0.0);
        share[g.below(nodes)] = total = 1.0;
      }
      double before = 0.0;
      for (std::size_t k = 0; k < nodes; ++k) {
        cut[k] = std::min(m.size(), static_cast<std::size_t>(std::floor(static_cast<double>(m.size()) * before / total)));
        before += share[k];
      }
      cut[nodes] = m.size();
      for (std::size_t k = 0; k < nodes; ++k) out.sizes[k] += cut[k + 1] - cut[k];
      out.samples.insert(out.samples.end(), m.begin() + static_cast<std::ptrdiff_t>(cut[node]),
                         m.begin() + static_cast<std::ptrdiff_t>(cut[node + 1]));
    }
    const auto smallest = std::min_element(out.sizes.begin(), out.sizes.end());
    if (*smallest >= least) break;
    if (attempt == 999) {
      throw std::invalid_argument(too_small(static_cast<std::size_t>(smallest - out.sizes.begin()), how).what() +
                                  std::string(" in each of 1000 draws (raise alpha, or use fewer nodes)"));
    }
  }
  std::sort(out.samples.begin(), out.samples.end());
  out.count = out.samples.size();
  return out;
}

}  // namespace asgd::inline v0

#pragma once
/// @file
/// How a run's training samples are split among its nodes: iid shards, of equal or given
/// relative sizes, or label-skewed shards whose class mix is drawn from a Dirichlet distribution.
/// Every node computes the whole split from the same seed, so no node sends another its indices.

#include <asgd/detail/config.hpp>
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

  /// @throws std::invalid_argument naming the field: alpha not finite and > 0, sizes with
  ///         Dirichlet, a size not finite and > 0
  ASGD_DECL void validate() const;


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
ASGD_DECL double gamma_variate(rng& g, double shape);

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
ASGD_DECL shard_split split_samples(const sharding& s, std::size_t samples, std::size_t nodes, std::size_t node,
                                    std::uint64_t seed, std::span<const std::uint32_t> class_of = {},
                                    std::size_t least = 1);

}  // namespace asgd::inline v0

#if !defined(ASGD_SEPARATE_COMPILATION)
#include <asgd/impl/shards.ipp>
#endif

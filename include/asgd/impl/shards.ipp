#pragma once
// The definitions of <asgd/shards.hpp>'s functions (ASGD_DECL: inline unless
// ASGD_SEPARATE_COMPILATION, then compiled once through <asgd/src.hpp>).

#include <asgd/shards.hpp>

namespace asgd::inline v0 {

ASGD_DECL void sharding::validate() const {
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

ASGD_DECL double gamma_variate(rng& g, double shape) {
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

ASGD_DECL shard_split split_samples(const sharding& s, std::size_t samples, std::size_t nodes, std::size_t node,
                                    std::uint64_t seed, std::span<const std::uint32_t> class_of, std::size_t least) {
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

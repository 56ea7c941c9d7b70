// Averaging topologies: every row is a proper mixing row, the graph is symmetric (a peer names
// you back), rows are replayable from (seed, round), and mixing preserves the mean and drives
// the models to consensus.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

namespace {

namespace t = asgd::topology;

// The mixing matrix of one round, W[i][j] = weight node i gives node j's model.
template <class T>
std::vector<std::vector<double>> matrix(const T& topo, std::uint64_t round, std::size_t n, std::uint64_t seed) {
  std::vector<std::vector<double>> w(n, std::vector<double>(n, 0.0));
  for (std::size_t i = 0; i < n; ++i) {
    const auto row = topo.neighbours(round, i, n, seed);
    w[i][i] = row.self_weight;
    for (const auto& p : row.peers) w[i][p.node] += p.weight;
  }
  return w;
}

// Checks what every topology promises of its rows for `n` nodes over a few rounds.
template <class T>
void check_rows(const T& topo, std::size_t n, bool doubly_stochastic) {
  for (std::uint64_t round = 0; round < 6; ++round) {
    for (std::size_t i = 0; i < n; ++i) {
      const auto row = topo.neighbours(round, i, n, 42);
      double sum = row.self_weight;
      std::set<std::size_t> seen;
      for (const auto& p : row.peers) {
        CHECK(p.node < n);
        CHECK(p.node != i);
        CHECK(seen.insert(p.node).second);  // no peer twice
        CHECK(p.weight >= 0.0f);
        sum += p.weight;
        // Exchanges are symmetric: the peer names this node in the same round.
        const auto back = topo.neighbours(round, p.node, n, 42);
        CHECK(std::any_of(back.peers.begin(), back.peers.end(), [&](const auto& q) { return q.node == i; }));
      }
      CHECK(sum == doctest::Approx(1.0).epsilon(1e-6));
      // Replayable: the same arguments give the same row.
      const auto again = topo.neighbours(round, i, n, 42);
      CHECK(again.self_weight == row.self_weight);
      REQUIRE(again.peers.size() == row.peers.size());
      for (std::size_t k = 0; k < row.peers.size(); ++k) CHECK(again.peers[k].node == row.peers[k].node);
    }
    if (doubly_stochastic) {
      const auto w = matrix(topo, round, n, 42);
      for (std::size_t j = 0; j < n; ++j) {
        double col = 0.0;
        for (std::size_t i = 0; i < n; ++i) col += w[i][j];
        CHECK(col == doctest::Approx(1.0).epsilon(1e-6));
      }
    }
  }
}

// Mixes `n` scalar models for `rounds` rounds; returns the spread (max - min) at the end and
// checks the mean after every round.
template <class T>
double mix_scalars(const T& topo, std::size_t n, std::size_t rounds, bool preserves_mean) {
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<double>(i * i % 7) - 3.0;
  double mean = 0.0;
  for (double v : x) mean += v / static_cast<double>(n);
  for (std::uint64_t r = 0; r < rounds; ++r) {
    const auto w = matrix(topo, r, n, 7);
    std::vector<double> next(n, 0.0);
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) next[i] += w[i][j] * x[j];
    x = next;
    if (preserves_mean) {
      // Each round keeps the mean to float tolerance (the weights are floats: 1/3 is not exact).
      double m = 0.0;
      for (double v : x) m += v / static_cast<double>(n);
      CHECK(m == doctest::Approx(mean).epsilon(1e-6).scale(1.0));
      mean = m;
    }
  }
  return *std::max_element(x.begin(), x.end()) - *std::min_element(x.begin(), x.end());
}

}  // namespace

TEST_SUITE("topology") {
  TEST_CASE("topology::none keeps every node to itself") {
    const auto row = t::none{}.neighbours(3, 1, 4, 9);
    CHECK(row.self_weight == 1.0f);
    CHECK(row.peers.empty());
  }

  TEST_CASE("every topology gives symmetric, replayable rows summing to one") {
    for (std::size_t n : {1u, 2u, 3u, 4u, 5u, 8u, 9u, 12u}) {
      CAPTURE(n);
      check_rows(t::all_reduce{}, n, true);
      check_rows(t::ring{}, n, true);
      check_rows(t::torus{}, n, true);
      check_rows(t::exponential{}, n, true);
      check_rows(t::random_pairs{}, n, true);
      check_rows(t::random_pairs{.one_sided = true}, n, false);
      check_rows(t::federated{.fraction = 0.5}, n, true);
      check_rows(t::federated{.fraction = 1.0}, n, true);
    }
  }

  TEST_CASE("mixing preserves the mean and reaches consensus") {
    for (std::size_t n : {2u, 4u, 6u, 9u, 16u}) {
      CAPTURE(n);
      CHECK(mix_scalars(t::all_reduce{}, n, 1, true) < 1e-9);
      CHECK(mix_scalars(t::ring{}, n, 400, true) < 1e-4);
      CHECK(mix_scalars(t::torus{}, n, 200, true) < 1e-4);
      CHECK(mix_scalars(t::exponential{}, n, 60, true) < 1e-4);
      CHECK(mix_scalars(t::random_pairs{}, n, 300, true) < 1e-4);
      CHECK(mix_scalars(t::federated{.fraction = 0.5}, n, 300, true) < 1e-4);
      CHECK(mix_scalars(t::federated{.fraction = 1.0}, n, 1, true) < 1e-9);
      // One-sided gossip reaches consensus but moves the mean.
      CHECK(mix_scalars(t::random_pairs{.one_sided = true}, n, 300, false) < 1e-4);
    }
  }

  TEST_CASE("ring, torus and exponential graphs have the documented neighbours") {
    auto peers = [](const asgd::mixing_row& row) {
      std::vector<std::size_t> p;
      for (const auto& q : row.peers) p.push_back(q.node);
      std::sort(p.begin(), p.end());
      return p;
    };
    CHECK(peers(t::ring{}.neighbours(0, 0, 5, 1)) == std::vector<std::size_t>{1, 4});
    CHECK(t::ring{}.neighbours(0, 0, 5, 1).self_weight == doctest::Approx(1.0 / 3));
    CHECK(peers(t::ring{}.neighbours(0, 1, 2, 1)) == std::vector<std::size_t>{0});
    CHECK(t::ring{}.neighbours(0, 1, 2, 1).self_weight == 0.5f);
    // 3 x 4 grid: node 5 = (1, 1) has 1, 9, 4 and 6 around it.
    CHECK(t::torus{}.rows_for(12) == 3);
    CHECK(peers(t::torus{}.neighbours(0, 5, 12, 1)) == std::vector<std::size_t>{1, 4, 6, 9});
    CHECK(peers(t::torus{.rows = 2}.neighbours(0, 0, 8, 1)) == std::vector<std::size_t>{1, 3, 4});
    CHECK_THROWS_WITH_AS((void)t::torus{.rows = 5}.neighbours(0, 0, 8, 1), doctest::Contains("does not divide 8"),
                         std::invalid_argument);
    // 8 nodes: hops 1, 2, 4 both ways.
    CHECK(peers(t::exponential{}.neighbours(0, 0, 8, 1)) == std::vector<std::size_t>{1, 2, 4, 6, 7});
  }

  TEST_CASE("random_pairs: a matching per round, drawn from (seed, round)") {
    const t::random_pairs topo;
    std::set<std::vector<std::size_t>> matchings;
    for (std::uint64_t round = 0; round < 20; ++round) {
      std::vector<std::size_t> partner(7, 99);
      std::size_t alone = 0;
      for (std::size_t i = 0; i < 7; ++i) {
        const auto row = topo.neighbours(round, i, 7, 3);
        if (row.peers.empty()) {
          ++alone;
          CHECK(row.self_weight == 1.0f);
        } else {
          REQUIRE(row.peers.size() == 1);
          partner[i] = row.peers[0].node;
          CHECK(row.self_weight == 0.5f);
        }
      }
      CHECK(alone == 1);  // 7 nodes: three pairs and one left out
      for (std::size_t i = 0; i < 7; ++i)
        if (partner[i] != 99) CHECK(partner[partner[i]] == i);
      matchings.insert(partner);
    }
    CHECK(matchings.size() > 10);  // the matching changes from round to round
    // Another seed, another sequence.
    const bool differs = topo.neighbours(0, 0, 8, 3).peers[0].node != topo.neighbours(0, 0, 8, 4).peers[0].node ||
                         topo.neighbours(1, 0, 8, 3).peers[0].node != topo.neighbours(1, 0, 8, 4).peers[0].node;
    CHECK(differs);
  }

  TEST_CASE("random_pairs one-sided: the initiator averages, its partner only sends") {
    const t::random_pairs topo{.one_sided = true};
    for (std::uint64_t round = 0; round < 5; ++round) {
      const auto a = topo.neighbours(round, 0, 2, 5);
      const auto b = topo.neighbours(round, 1, 2, 5);
      REQUIRE(a.peers.size() == 1);
      REQUIRE(b.peers.size() == 1);
      const bool a_initiates = a.peers[0].weight > 0.0f;
      CHECK(a_initiates != (b.peers[0].weight > 0.0f));
      CHECK((a_initiates ? b : a).self_weight == 1.0f);
    }
  }

  TEST_CASE("federated: a sampled subset averages, weighted by data size") {
    const t::federated topo{.fraction = 0.5, .data_sizes = {1, 2, 3, 4}};
    topo.validate();
    // The data-size-weighted mean is preserved.
    std::vector<double> x{4, -1, 2, 0.5};
    const double total = 10.0;
    auto weighted = [&] {
      double m = 0.0;
      for (std::size_t i = 0; i < 4; ++i) m += topo.data_sizes[i] * x[i] / total;
      return m;
    };
    const double before = weighted();
    for (std::uint64_t r = 0; r < 30; ++r) {
      const auto w = matrix(topo, r, 4, 11);
      std::size_t averaging = 0;
      for (std::size_t i = 0; i < 4; ++i) averaging += w[i][i] < 1.0;
      CHECK(averaging == 2);  // half of four nodes
      std::vector<double> next(4, 0.0);
      for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 4; ++j) next[i] += w[i][j] * x[j];
      x = next;
      CHECK(weighted() == doctest::Approx(before).epsilon(1e-6));
    }
    CHECK_THROWS_WITH_AS(t::federated{.fraction = 0.0}.validate(), doctest::Contains("must be in (0, 1]"),
                         std::invalid_argument);
    const t::federated negative{.data_sizes = {1, -2}};
    CHECK_THROWS_WITH_AS(negative.validate(), doctest::Contains("data_sizes[1]"), std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)topo.neighbours(0, 0, 3, 1), doctest::Contains("4 data sizes for 3 nodes"),
                         std::invalid_argument);
  }
}

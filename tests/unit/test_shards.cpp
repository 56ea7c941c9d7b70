// Splitting the samples among nodes: iid shards of equal or given sizes, Dirichlet label skew;
// federated's weights from the real shard sizes; refusals that name what was wrong.

#include "../support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

namespace c = asgd::consistency;
namespace t = asgd::topology;
using asgd::sharding;
using asgd::split_samples;

// Every node's shard; checks that together they hold every sample exactly once.
std::vector<asgd::shard_split> split_all(const sharding& s, std::size_t samples, std::size_t nodes,
                                         std::span<const std::uint32_t> classes = {}, std::size_t least = 1,
                                         std::uint64_t seed = 7) {
  std::vector<asgd::shard_split> all;
  std::vector<int> held(samples, 0);
  for (std::size_t k = 0; k < nodes; ++k) {
    all.push_back(split_samples(s, samples, nodes, k, seed, classes, least));
    CHECK(all[k].sizes == all[0].sizes);  // every node computes the same split
    CHECK(all[k].count == all[k].sizes[k]);
    CHECK((all[k].samples.empty() || all[k].samples.size() == all[k].count));  // a range, or a list
    for (std::size_t j = 0; j < all[k].count; ++j) {
      ++held[all[k].at(j)];
      if (j > 0) CHECK(all[k].at(j - 1) < all[k].at(j));
    }
  }
  CHECK(std::all_of(held.begin(), held.end(), [](int n) { return n == 1; }));
  return all;
}

// 10 classes, 600 samples each, in a fixed shuffled order.
std::vector<std::uint32_t> ten_classes() {
  std::vector<std::uint32_t> c(6000);
  for (std::size_t i = 0; i < c.size(); ++i) c[i] = static_cast<std::uint32_t>(i % 10);
  asgd::rng g(3);
  asgd::shuffle(c.begin(), c.end(), g);
  return c;
}

// The share of node k's samples in its most common class, averaged over nodes.
double mean_top_class_share(const std::vector<asgd::shard_split>& all, const std::vector<std::uint32_t>& classes) {
  double sum = 0.0;
  for (const auto& s : all) {
    std::vector<std::size_t> count(10, 0);
    for (std::size_t j = 0; j < s.count; ++j) ++count[classes[s.at(j)]];
    sum += static_cast<double>(*std::max_element(count.begin(), count.end())) / static_cast<double>(s.count);
  }
  return sum / static_cast<double>(all.size());
}

using asgd_test::still_model;  // coordinate 0 starts at the node's number

// Two still nodes (starting at 0 and 1) under `topo`, averaging blocking every 100 of 200 steps;
// returns node 0's final model's first coordinate.
template <class Topo>
float two_still_nodes(Topo topo, sharding shards, bool final_average) {
  float first = -1.0f;
  asgd::run_in_process(2, [&](std::size_t k, asgd::transport::in_process ep) {
    asgd::settings s{.threads = 1, .steps = 200, .batch = 4};
    s.averaging = {.every = 100, .blocking = true, .final_average = final_average};
    s.shards = shards;
    asgd::trainer<still_model, c::sequential, Topo> tr{still_model{static_cast<float>(k)}, s, topo, ep};
    auto r = tr.run();
    if (k == 0) first = tr.parameters()[0];
    REQUIRE(r.node);
    CHECK(r.node->shard_samples == (k == 0 ? 192u : 64u));
    return r;
  });
  return first;
}

}  // namespace

TEST_SUITE("shards") {
  TEST_CASE("iid shards: equal contiguous ranges, or ranges in the given proportions") {
    const auto equal = split_all({}, 1000, 3);
    CHECK(equal[0].sizes == std::vector<std::size_t>{333, 333, 334});
    CHECK(equal[1].samples.empty());  // a range: no memory per sample
    CHECK(equal[1].at(0) == 333);  // [k n / nodes, (k + 1) n / nodes), as before shards existed
    const auto skewed = split_all({.sizes = {3, 1}}, 1000, 2);
    CHECK(skewed[0].sizes == std::vector<std::size_t>{750, 250});
    CHECK(skewed[1].at(0) == 750);
    const auto lone = split_samples({.sizes = {3, 1}}, 10, 1, 0, 1);  // a lone node holds everything
    CHECK(lone.count == 10);
    CHECK(lone.at(9) == 9);
  }

  TEST_CASE("iid shards: bad sizes are refused, naming the entry or the starved node") {
    auto message = [](const sharding& s, std::size_t samples, std::size_t nodes, std::size_t least = 1) {
      try {
        (void)split_samples(s, samples, nodes, 0, 1, {}, least);
      } catch (const std::invalid_argument& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    };
    CHECK(message({.sizes = {1, 2, 3}}, 100, 2).find("3 entries for 2 nodes") != std::string::npos);
    CHECK(message({.sizes = {1, -1}}, 100, 2).find("sizes[1]") != std::string::npos);
    CHECK(message({.sizes = {1, 0.05}}, 100, 2, 10).find("leaves node 1 5 of the 100 samples; each node needs at least 10") !=
          std::string::npos);
    CHECK(message({.type = sharding::kind::dirichlet, .alpha = 0}, 100, 2).find("alpha") != std::string::npos);
    CHECK(message({.type = sharding::kind::dirichlet, .sizes = {1, 1}}, 100, 2).find("iid") != std::string::npos);
  }

  TEST_CASE("Gamma variates have mean and variance equal to the shape") {
    for (double shape : {0.1, 0.5, 1.0, 4.0}) {
      CAPTURE(shape);
      asgd::rng g(11);
      constexpr int n = 200000;
      double sum = 0.0, squares = 0.0;
      int negative = 0;
      for (int i = 0; i < n; ++i) {
        const double x = asgd::gamma_variate(g, shape);
        negative += x < 0.0;
        sum += x;
        squares += x * x;
      }
      const double mean = sum / n;
      const double variance = squares / n - mean * mean;
      CHECK(negative == 0);
      CHECK(mean == doctest::Approx(shape).epsilon(0.02));
      CHECK(variance == doctest::Approx(shape).epsilon(0.08));
    }
  }

  TEST_CASE("Dirichlet shards: every sample once, the same from a seed, skewed as alpha says") {
    const auto classes = ten_classes();
    const sharding skewed{.type = sharding::kind::dirichlet, .alpha = 0.1};
    const auto a = split_all(skewed, classes.size(), 4, classes, 16);
    const auto again = split_all(skewed, classes.size(), 4, classes, 16);
    const auto other = split_all(skewed, classes.size(), 4, classes, 16, /*seed=*/8);
    CHECK(a[2].samples == again[2].samples);
    CHECK(a[2].samples != other[2].samples);
    for (std::size_t k = 0; k < 4; ++k) CHECK(a[0].sizes[k] >= 16);
    // The share of a node's samples in its most common class, averaged over the 4 nodes, over
    // seeds 1-50: 0.33-0.56 at alpha 0.1, 0.18-0.32 at alpha 1, 0.103-0.107 at alpha 1000 (the
    // set's 10% per class).
    CHECK(mean_top_class_share(a, classes) > 0.3);
    const auto flat = split_all({.type = sharding::kind::dirichlet, .alpha = 1000}, classes.size(), 4, classes);
    CHECK(mean_top_class_share(flat, classes) < 0.12);
  }

  TEST_CASE("Dirichlet shards: a draw that starves a node is redrawn; an impossible one is refused") {
    const auto classes = ten_classes();
    // 64 nodes at alpha 0.5: seed 3's first draw leaves a node 8 samples; asked for 20 a node,
    // the split draws again.
    const sharding small{.type = sharding::kind::dirichlet, .alpha = 0.5};
    const auto first = split_samples(small, classes.size(), 64, 0, 3, classes, 1);
    CHECK(*std::min_element(first.sizes.begin(), first.sizes.end()) < 20);
    const auto s = split_samples(small, classes.size(), 64, 0, 3, classes, 20);
    CHECK(*std::min_element(s.sizes.begin(), s.sizes.end()) >= 20);
    // 6000 samples cannot give 64 nodes 100 each.
    CHECK_THROWS_WITH_AS((void)split_samples(small, classes.size(), 64, 0, 1, classes, 100),
                         doctest::Contains("in each of 1000 draws (raise alpha, or use fewer nodes)"),
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS((void)split_samples(small, 10, 2, 0, 1, classes, 1), doctest::Contains("got 6000"),
                         std::invalid_argument);
  }

  TEST_CASE("a trainer's nodes take their shards; federated weights them by the shards' real sizes" *
            doctest::timeout(120)) {
    // Node 0 holds 192 of 256 samples, node 1 64: federated's average is 0 * 3/4 + 1 * 1/4.
    const sharding three_to_one{.sizes = {3, 1}};
    CHECK(two_still_nodes(t::federated{.fraction = 1.0}, three_to_one, false) == doctest::Approx(0.25));
    // Given sizes win over the shards'; the final average is the same weighted mean.
    CHECK(two_still_nodes(t::federated{.fraction = 1.0, .data_sizes = {1, 1}}, three_to_one, false) ==
          doctest::Approx(0.5));
    CHECK(two_still_nodes(t::federated{.fraction = 1.0, .data_sizes = {1, 3}}, three_to_one, true) ==
          doctest::Approx(0.75));
    // Topologies that do not weight by data take the plain mean.
    CHECK(two_still_nodes(t::all_reduce{}, three_to_one, true) == doctest::Approx(0.5));
  }

  TEST_CASE("Dirichlet shards in a trainer: skewed class counts; a problem without classes is refused" *
            doctest::timeout(120)) {
    const auto inst = asgd::problems::make_softmax_regression(4000, 20, 10, 0.5, 9);
    asgd::settings s{.threads = 1, .steps = 50, .batch = 8, .seed = 3};
    s.shards = {.type = sharding::kind::dirichlet, .alpha = 0.1};
    const auto reports = asgd::run_in_process(4, [&](std::size_t, asgd::transport::in_process ep) {
      return asgd::trainer<asgd::problems::softmax_regression, c::hogwild, t::ring>{inst.problem, s, ep};
    });
    std::uint64_t held = 0, classes = 0;
    for (const auto& r : reports) {
      REQUIRE(r.node);
      held += r.node->shard_samples;
      classes += r.node->shard_classes;
      CHECK(r.node->shard_classes >= 1);
      CHECK(r.node->shard_classes <= 10);
    }
    CHECK(held == 4000);
    CHECK(classes < 40);  // at alpha 0.1, not every node holds every class
    CHECK(reports[0].to_json().find("\"shard_classes\"") != std::string::npos);

    asgd::settings bad{.threads = 1, .steps = 10, .batch = 4};
    bad.shards = {.type = sharding::kind::dirichlet, .alpha = 1.0};
    CHECK_THROWS_WITH_AS(asgd::run_in_process(2,
                                              [&](std::size_t k, asgd::transport::in_process ep) {
                                                return asgd::trainer<still_model, c::sequential, t::ring>{
                                                    still_model{static_cast<float>(k)}, bad, ep};
                                              }),
                         doctest::Contains("names no classes (concept asgd::labelled_problem: class_of(i))"),
                         std::invalid_argument);
  }
}
